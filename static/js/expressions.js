/* Browser twin of surveys/expressions.py: the XLSForm expression subset used by `relevant` and
 * `constraint` (docs/questionnaire-format.md, "Expressions").
 *
 * Same grammar (surveys.expressions.GRAMMAR), same functions and arities (FUNCTIONS), same
 * XPath 1.0 semantics as ODK applies them: an unanswered item is '', a select_multiple answer is
 * its codes separated by spaces, comparing a number with '' (NaN) is false, `!=` is the negation
 * of `=`, `and` / `or` short-circuit, `if()` and `coalesce()` evaluate only the branch they need.
 * tests/surveys/test_expressions_js.py runs this file in node against the Python evaluator.
 *
 * Numbers: the Python evaluator uses decimal.Decimal in a 50-digit context (ROUND_HALF_EVEN,
 * Emax 999999, traps off). JavaScript doubles would make `0.1 + 0.2 = 0.3` false where the server
 * says true, so this file carries its own small decimal type: a sign, a coefficient of decimal
 * digits (BigInt arithmetic) and an exponent, with the same rounding to 50 significant digits,
 * Infinity / NaN on division by zero, `mod` as Decimal's remainder (NaN when the integer quotient
 * needs more than 50 digits) and the sign rules of zero. The algorithms follow CPython's
 * _pydecimal. Known differences, all outside what a questionnaire plausibly needs: exponents
 * beyond +/-10^15 in an answer (Python accepts `1e99999999999999999999`, this file says NaN).
 *
 * regex(): Python `re.search` semantics are approximated by translating the pattern to a
 * JavaScript RegExp with the `u` flag: `\d`, `\w`, `\s`, `\b` get Python's Unicode meaning, `$`
 * also matches before a final newline, `.` does not match a newline only, `(?P<name>...)`,
 * `(?P=name)`, `\A`, `\Z`, `{,n}` and leading inline flags `(?i)`, `(?m)`, `(?s)` are translated.
 * A pattern this file cannot translate (verbose mode, atomic groups, possessive quantifiers,
 * conditionals, `\W` or `\S` inside [...]) is a parse error here although Python accepts it; the
 * portal then leaves the question visible and the server decides.
 *
 * Plain ES2020, no dependencies, no build step:
 *   window.SurveyExpressions = {parse, evaluate, isTrue, decimal, compareDecimals, toText, ...}
 * and `module.exports` of the same object under node.
 */
(function (root) {
  'use strict';

  var MAX_SOURCE_LENGTH = 2000;
  var MAX_DEPTH = 100;

  // Function name -> [minimum, maximum] number of arguments; null means no maximum.
  var FUNCTIONS = {
    'selected': [2, 2],
    'count-selected': [1, 1],
    'string-length': [0, 1],
    'number': [0, 1],
    'string': [0, 1],
    'if': [3, 3],
    'true': [0, 0],
    'false': [0, 0],
    'not': [1, 1],
    'regex': [2, 2],
    'coalesce': [2, 2],
    'concat': [0, null],
    'int': [1, 1],
    'round': [1, 2],
  };
  var CURRENT_BY_DEFAULT = { 'string-length': true, 'string': true, 'number': true };
  var KEYWORDS = { 'or': true, 'and': true, 'div': true, 'mod': true };

  function ExpressionError(message, position) {
    var error = new Error(message);
    error.name = 'ExpressionError';
    error.position = position === undefined ? null : position;
    Object.setPrototypeOf(error, ExpressionError.prototype);
    return error;
  }
  ExpressionError.prototype = Object.create(Error.prototype);
  ExpressionError.prototype.constructor = ExpressionError;

  function fail(message, position, detail) {
    throw ExpressionError(message + ' at character ' + (position + 1) + (detail || ''), position);
  }

  // --- decimal numbers (a port of the parts of CPython's _pydecimal the evaluator needs) -----------

  var PREC = 50;
  var EMAX = 999999;
  var EMIN = -999999;
  var ETINY = EMIN - PREC + 1;
  var ETOP = EMAX - PREC + 1;
  var MAX_EXPONENT = 1e15; // beyond this an exponent no longer fits a double exactly

  function Dec(sign, digits, exp, special) {
    this.sign = sign; // 0 positive, 1 negative
    this.int = digits; // coefficient: decimal digits without leading zeros ('0' for zero)
    this.exp = exp; // value = (-1)^sign * int * 10^exp
    this.special = special || ''; // '' finite, 'n' NaN, 'F' infinity
  }

  var NAN = new Dec(0, '0', 0, 'n');
  var ZERO = new Dec(0, '0', 0);
  var ONE = new Dec(0, '1', 0);

  function infinity(sign) {
    return new Dec(sign, '0', 0, 'F');
  }

  function triple(sign, digits, exp) {
    var stripped = digits.replace(/^0+/, '');
    return new Dec(sign, stripped === '' ? '0' : stripped, exp);
  }

  function isDec(value) {
    return value instanceof Dec;
  }

  function isNaNDec(d) {
    return d.special === 'n';
  }

  function isInf(d) {
    return d.special === 'F';
  }

  function isZeroDec(d) {
    return d.special === '' && d.int === '0';
  }

  function pow10(n) {
    return BigInt(10) ** BigInt(n);
  }

  function allZeros(s, i) {
    for (var k = i; k < s.length; k++) if (s[k] !== '0') return false;
    return true;
  }

  // Rounding functions of _pydecimal: 1 = round the kept digits up, 0 = exact, -1 = truncated.
  function roundDown(s, prec) {
    return allZeros(s, prec) ? 0 : -1;
  }

  function roundHalfUp(s, prec) {
    if ('56789'.indexOf(s[prec]) >= 0) return 1;
    return allZeros(s, prec) ? 0 : -1;
  }

  function roundHalfEven(s, prec) {
    var exactHalf = s[prec] === '5' && allZeros(s, prec + 1);
    if (exactHalf && (prec === 0 || '02468'.indexOf(s[prec - 1]) >= 0)) return -1;
    return roundHalfUp(s, prec);
  }

  // Round to the context: 50 significant digits, half-even, overflow to infinity, subnormals.
  function fix(d) {
    if (d.special) return d;
    if (d.int === '0') return new Dec(d.sign, '0', Math.min(Math.max(d.exp, ETINY), EMAX));
    var expMin = d.int.length + d.exp - PREC;
    if (expMin > ETOP) return infinity(d.sign);
    if (expMin < ETINY) expMin = ETINY;
    if (d.exp >= expMin) return d;
    var digits = d.int.length + d.exp - expMin;
    var self = d;
    if (digits < 0) {
      self = new Dec(d.sign, '1', expMin - 1);
      digits = 0;
    }
    var changed = roundHalfEven(self.int, digits);
    var coeff = self.int.slice(0, digits) || '0';
    if (changed > 0) {
      coeff = (BigInt(coeff) + BigInt(1)).toString();
      if (coeff.length > PREC) {
        coeff = coeff.slice(0, -1);
        expMin += 1;
      }
    }
    if (expMin > ETOP) return infinity(d.sign);
    return triple(d.sign, coeff, expMin);
  }

  // Change the exponent to `exp`, rounding with `rounding` when digits are dropped (no precision).
  function rescale(d, exp, rounding) {
    if (d.int === '0') return new Dec(d.sign, '0', exp);
    if (d.exp >= exp) return new Dec(d.sign, d.int + '0'.repeat(d.exp - exp), exp);
    var digits = d.int.length + d.exp - exp;
    var self = d;
    if (digits < 0) {
      self = new Dec(d.sign, '1', exp - 1);
      digits = 0;
    }
    var changed = rounding(self.int, digits);
    var coeff = self.int.slice(0, digits) || '0';
    if (changed === 1) coeff = (BigInt(coeff) + BigInt(1)).toString();
    return triple(d.sign, coeff, exp);
  }

  function adjusted(d) {
    return d.exp + d.int.length - 1;
  }

  function negated(d) {
    return new Dec(d.sign ? 0 : 1, d.int, d.exp, d.special);
  }

  // Context.minus(): -0 and 0 both give 0 (ROUND_HALF_EVEN is not ROUND_FLOOR), then rounding.
  function minus(d) {
    if (isNaNDec(d)) return NAN;
    if (isInf(d)) return negated(d);
    if (d.int === '0') return fix(new Dec(0, '0', d.exp));
    return fix(negated(d));
  }

  function add(a, b) {
    if (isNaNDec(a) || isNaNDec(b)) return NAN;
    if (isInf(a)) return isInf(b) && a.sign !== b.sign ? NAN : a;
    if (isInf(b)) return b;
    var exp = Math.min(a.exp, b.exp);
    if (a.int === '0' && b.int === '0') return fix(new Dec(Math.min(a.sign, b.sign), '0', exp));
    if (a.int === '0') return fix(rescale(b, Math.max(exp, b.exp - PREC - 1), roundHalfEven));
    if (b.int === '0') return fix(rescale(a, Math.max(exp, a.exp - PREC - 1), roundHalfEven));
    // _normalize: a far smaller operand only matters as a sticky digit for rounding.
    var swap = a.exp < b.exp;
    var tmp = swap ? b : a;
    var other = swap ? a : b;
    var shiftExp = tmp.exp + Math.min(-1, tmp.int.length - PREC - 2);
    var otherInt = BigInt(other.int);
    var otherExp = other.exp;
    if (other.int.length + other.exp - 1 < shiftExp) {
      otherInt = BigInt(1);
      otherExp = shiftExp;
    }
    var tmpInt = BigInt(tmp.int) * pow10(tmp.exp - otherExp);
    var op1 = { sign: a.sign, int: swap ? otherInt : tmpInt };
    var op2 = { sign: b.sign, int: swap ? tmpInt : otherInt };
    var sum;
    if (op1.sign !== op2.sign) {
      if (op1.int === op2.int) return fix(new Dec(0, '0', exp));
      // The larger magnitude gives the sign; the smaller one is subtracted from it.
      var larger = op1.int > op2.int ? op1 : op2;
      var smaller = larger === op1 ? op2 : op1;
      return fix(triple(larger.sign, (larger.int - smaller.int).toString(), otherExp));
    }
    sum = op1.int + op2.int;
    var resultSign = op1.sign;
    return fix(triple(resultSign, sum.toString(), otherExp));
  }

  function subtract(a, b) {
    return add(a, negated(b));
  }

  function multiply(a, b) {
    var sign = a.sign ^ b.sign;
    if (isNaNDec(a) || isNaNDec(b)) return NAN;
    if (isInf(a)) return b.int === '0' && !b.special ? NAN : infinity(sign);
    if (isInf(b)) return a.int === '0' ? NAN : infinity(sign);
    var exp = a.exp + b.exp;
    if (a.int === '0' || b.int === '0') return fix(new Dec(sign, '0', exp));
    return fix(triple(sign, (BigInt(a.int) * BigInt(b.int)).toString(), exp));
  }

  function divide(a, b) {
    var sign = a.sign ^ b.sign;
    if (isNaNDec(a) || isNaNDec(b)) return NAN;
    if (isInf(a)) return isInf(b) ? NAN : infinity(sign);
    if (isInf(b)) return new Dec(sign, '0', ETINY);
    if (b.int === '0') return a.int === '0' ? NAN : infinity(sign);
    var exp;
    var coeff;
    if (a.int === '0') {
      exp = a.exp - b.exp;
      coeff = BigInt(0);
    } else {
      var shift = b.int.length - a.int.length + PREC + 1;
      exp = a.exp - b.exp - shift;
      var num = BigInt(a.int);
      var den = BigInt(b.int);
      if (shift >= 0) num *= pow10(shift);
      else den *= pow10(-shift);
      coeff = num / den;
      var remainder = num % den;
      if (remainder !== BigInt(0)) {
        if (coeff % BigInt(5) === BigInt(0)) coeff += BigInt(1);
      } else {
        var idealExp = a.exp - b.exp;
        while (exp < idealExp && coeff % BigInt(10) === BigInt(0)) {
          coeff /= BigInt(10);
          exp += 1;
        }
      }
    }
    return fix(triple(sign, coeff.toString(), exp));
  }

  // Decimal.__mod__ with the context: the remainder keeps the dividend's sign.
  function remainder(a, b) {
    if (isNaNDec(a) || isNaNDec(b)) return NAN;
    if (isInf(a)) return NAN;
    if (!isInf(b) && b.int === '0') return NAN;
    var idealExp = isInf(b) ? a.exp : Math.min(a.exp, b.exp);
    var expdiff = isInf(b) ? 0 : adjusted(a) - adjusted(b);
    if (a.int === '0' || isInf(b) || expdiff <= -2) return fix(rescale(a, idealExp, roundHalfEven));
    if (expdiff <= PREC) {
      var op1 = BigInt(a.int);
      var op2 = BigInt(b.int);
      if (a.exp >= b.exp) op1 *= pow10(a.exp - b.exp);
      else op2 *= pow10(b.exp - a.exp);
      var q = op1 / op2;
      if (q < pow10(PREC)) return fix(triple(a.sign, (op1 % op2).toString(), idealExp));
    }
    return NAN; // the integer quotient needs more than 50 digits
  }

  // Decimal comparison (never called with NaN): -1, 0 or 1.
  function compare(a, b) {
    if (a.special || b.special) {
      var ai = isInf(a) ? (a.sign ? -1 : 1) : 0;
      var bi = isInf(b) ? (b.sign ? -1 : 1) : 0;
      return ai === bi ? 0 : ai < bi ? -1 : 1;
    }
    var s = a.sign ? -1 : 1;
    if (a.int === '0') return b.int === '0' ? 0 : b.sign ? 1 : -1;
    if (b.int === '0') return s;
    if (b.sign < a.sign) return -1;
    if (a.sign < b.sign) return 1;
    var aa = adjusted(a);
    var ba = adjusted(b);
    if (aa === ba) {
      var ap = a.int + '0'.repeat(Math.max(0, a.exp - b.exp));
      var bp = b.int + '0'.repeat(Math.max(0, b.exp - a.exp));
      if (ap === bp) return 0;
      return ap < bp ? -s : s;
    }
    return aa > ba ? s : -s;
  }

  function truncate(d) {
    // to_integral_value(ROUND_DOWN)
    if (d.special || d.exp >= 0) return d;
    if (d.int === '0') return new Dec(d.sign, '0', 0);
    return rescale(d, 0, roundDown);
  }

  function decimalToString(d) {
    if (isNaNDec(d)) return 'NaN';
    if (isInf(d)) return d.sign ? '-Infinity' : 'Infinity';
    if (d.int === '0') return '0';
    var text;
    if (d.exp >= 0) {
      text = d.int + '0'.repeat(d.exp);
    } else {
      var point = d.int.length + d.exp;
      text = point > 0 ? d.int.slice(0, point) + '.' + d.int.slice(point) : '0.' + '0'.repeat(-point) + d.int;
      text = text.replace(/0+$/, '').replace(/\.$/, '');
    }
    return (d.sign ? '-' : '') + text;
  }

  var DECIMAL_TEXT = /^([+-])?(?:(\d+)(?:\.(\d*))?|\.(\d+))(?:[eE]([+-]?\d+))?$/;

  // Exact decimal from text the way Python's Decimal(str) reads it: optional sign, digits with an
  // optional point, optional exponent, surrounding whitespace, NaN / Infinity. Returns null for
  // anything else.
  function decimal(text) {
    var s = String(text).trim().replace(/(\d)_(?=\d)/g, '$1');
    var special = /^([+-])?(inf|infinity|s?nan[0-9]*)$/i.exec(s);
    if (special) {
      if (/nan/i.test(special[2])) return NAN;
      return infinity(special[1] === '-' ? 1 : 0);
    }
    var m = DECIMAL_TEXT.exec(s);
    if (!m) return null;
    var whole = m[2] !== undefined ? m[2] : '';
    var fraction = m[2] !== undefined ? m[3] || '' : m[4];
    var exponent = m[5] !== undefined ? Number(m[5]) : 0;
    if (!Number.isSafeInteger(exponent) || Math.abs(exponent) > MAX_EXPONENT) return NAN;
    return triple(m[1] === '-' ? 1 : 0, whole + fraction, exponent - fraction.length);
  }

  // --- values: XPath string, boolean or number (a Dec) ---------------------------------------------

  var NUMBER_TEXT = /^[ \t\r\n]*(-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))[ \t\r\n]*$/;
  // Python's str.split() / str.strip() whitespace (str.isspace()).
  var PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
  var PY_SPLIT = new RegExp('[' + PY_SPACE + ']+');
  var PY_STRIP = new RegExp('^[' + PY_SPACE + ']+|[' + PY_SPACE + ']+$', 'g');

  function pySplit(s) {
    return s.split(PY_SPLIT).filter(function (part) {
      return part !== '';
    });
  }

  function fromAnswer(answer) {
    if (answer === null || answer === undefined) return '';
    if (typeof answer === 'boolean' || typeof answer === 'string') return answer;
    if (typeof answer === 'number') {
      if (Number.isNaN(answer)) return NAN;
      return decimal(Object.is(answer, -0) ? '-0' : String(answer));
    }
    if (typeof answer === 'bigint') return triple(answer < 0 ? 1 : 0, String(answer).replace('-', ''), 0);
    if (isDec(answer)) return isNaNDec(answer) ? NAN : answer;
    if (Array.isArray(answer)) return answer.map(String).join(' ');
    throw new TypeError('unsupported answer type ' + typeof answer);
  }

  function toText(value) {
    if (typeof value === 'boolean') return value ? 'true' : 'false';
    if (typeof value === 'string') return value;
    return decimalToString(value);
  }

  function toNumber(value) {
    if (typeof value === 'boolean') return value ? ONE : ZERO;
    if (typeof value === 'string') {
      var m = NUMBER_TEXT.exec(value);
      return m ? decimal(m[1]) : NAN;
    }
    return value;
  }

  function toBoolean(value) {
    if (typeof value === 'boolean') return value;
    if (typeof value === 'string') return value !== '';
    return !(isNaNDec(value) || isZeroDec(value));
  }

  function equals(left, right) {
    if (typeof left === 'boolean' || typeof right === 'boolean') return toBoolean(left) === toBoolean(right);
    if (isDec(left) || isDec(right)) {
      var a = toNumber(left);
      var b = toNumber(right);
      return !(isNaNDec(a) || isNaNDec(b)) && compare(a, b) === 0;
    }
    return left === right;
  }

  // --- regular expressions: Python `re` syntax translated to a JavaScript RegExp -------------------

  var WORD = '\\p{L}\\p{N}_';
  var SPACE_CLASS = PY_SPACE;
  var JS_SYNTAX = '^$\\.*+?()[]{}|/';

  function codePointEscape(text, i) {
    var cp = text.codePointAt(i);
    return { out: '\\u{' + cp.toString(16) + '}', length: cp > 0xffff ? 2 : 1 };
  }

  function translateEscape(src, i, inClass) {
    // src[i] is the character after the backslash; returns {out, length}
    var c = src[i];
    var W = '[' + WORD + ']';
    switch (c) {
      case 'd':
        return { out: '\\p{Nd}', length: 1 };
      case 'D':
        return { out: '\\P{Nd}', length: 1 };
      case 'w':
        return { out: inClass ? WORD : W, length: 1 };
      case 's':
        return { out: inClass ? SPACE_CLASS : '[' + SPACE_CLASS + ']', length: 1 };
      case 'W':
      case 'S':
        if (inClass) throw new Error('\\' + c + ' inside [...] is not supported');
        return { out: c === 'W' ? '[^' + WORD + ']' : '[^' + SPACE_CLASS + ']', length: 1 };
      case 'b':
        if (inClass) return { out: '\\x08', length: 1 };
        return { out: '(?:(?<=' + W + ')(?!' + W + ')|(?<!' + W + ')(?=' + W + '))', length: 1 };
      case 'B':
        if (inClass) throw new Error('bad escape \\B');
        return { out: '(?:(?<=' + W + ')(?=' + W + ')|(?<!' + W + ')(?!' + W + '))', length: 1 };
      case 'A':
        if (inClass) throw new Error('bad escape \\A');
        return { out: '(?<![\\s\\S])', length: 1 };
      case 'Z':
        if (inClass) throw new Error('bad escape \\Z');
        return { out: '(?![\\s\\S])', length: 1 };
      case 'n':
      case 't':
      case 'r':
      case 'f':
      case 'v':
        return { out: '\\' + c, length: 1 };
      case 'a':
        return { out: '\\x07', length: 1 };
      case 'x': {
        var hex = /^[0-9a-fA-F]{2}/.exec(src.slice(i + 1));
        if (!hex) throw new Error('incomplete escape \\x');
        return { out: '\\x' + hex[0], length: 3 };
      }
      case 'u': {
        var u = /^[0-9a-fA-F]{4}/.exec(src.slice(i + 1));
        if (!u) throw new Error('incomplete escape \\u');
        return { out: '\\u' + u[0], length: 5 };
      }
      case 'U': {
        var big = /^[0-9a-fA-F]{8}/.exec(src.slice(i + 1));
        if (!big) throw new Error('incomplete escape \\U');
        return { out: '\\u{' + big[0].replace(/^0+(?=.)/, '') + '}', length: 9 };
      }
      case '0':
        if (/^[0-7]/.test(src.slice(i + 1))) throw new Error('octal escapes are not supported');
        return { out: '\\x00', length: 1 };
      default:
        break;
    }
    if (/[1-9]/.test(c)) {
      if (inClass || /^[0-9]/.test(src.slice(i + 1))) throw new Error('octal escapes are not supported');
      return { out: '\\' + c, length: 1 };
    }
    if (/[A-Za-z]/.test(c)) throw new Error('bad escape \\' + c);
    if (JS_SYNTAX.indexOf(c) >= 0 || (c === '-' && inClass)) return { out: '\\' + c, length: 1 };
    return codePointEscape(src, i);
  }

  function translateRegex(pattern) {
    var flags = 'u';
    var src = pattern;
    var lead;
    while ((lead = /^\(\?([a-zA-Z]+)\)/.exec(src))) {
      for (var f = 0; f < lead[1].length; f++) {
        var flag = lead[1][f];
        if (flag === 'i' || flag === 'm' || flag === 's') {
          if (flags.indexOf(flag) < 0) flags += flag;
        } else if (flag !== 'u') {
          throw new Error('inline flag ' + flag + ' is not supported');
        }
      }
      src = src.slice(lead[0].length);
    }
    var multiline = flags.indexOf('m') >= 0;
    var dotAll = flags.indexOf('s') >= 0;
    var out = '';
    var inClass = false;
    var i = 0;
    while (i < src.length) {
      var c = src[i];
      if (c === '\\') {
        if (i + 1 >= src.length) throw new Error('bad escape (end of pattern)');
        var esc = translateEscape(src, i + 1, inClass);
        out += esc.out;
        i += 1 + esc.length;
        continue;
      }
      if (inClass) {
        if (c === ']') {
          inClass = false;
          out += ']';
        } else if (c === '[') {
          out += '\\[';
        } else {
          out += c;
        }
        i += 1;
        continue;
      }
      if (c === '[') {
        out += '[';
        i += 1;
        if (src[i] === '^') {
          out += '^';
          i += 1;
        }
        if (src[i] === ']') {
          out += '\\]';
          i += 1;
        }
        inClass = true;
        continue;
      }
      if (c === '(' && src[i + 1] === '?') {
        var rest = src.slice(i);
        var named = /^\(\?P<([A-Za-z_][A-Za-z0-9_]*)>/.exec(rest);
        var backref = /^\(\?P=([A-Za-z_][A-Za-z0-9_]*)\)/.exec(rest);
        var comment = /^\(\?#[^)]*\)/.exec(rest);
        if (named) {
          out += '(?<' + named[1] + '>';
          i += named[0].length;
        } else if (backref) {
          out += '\\k<' + backref[1] + '>';
          i += backref[0].length;
        } else if (comment) {
          i += comment[0].length;
        } else if (/^\(\?(?::|=|!|<=|<!)/.test(rest)) {
          var opener = /^\(\?(?::|=|!|<=|<!)/.exec(rest)[0];
          out += opener;
          i += opener.length;
        } else {
          throw new Error('group construct ' + rest.slice(0, 4) + ' is not supported');
        }
        continue;
      }
      if (c === '{') {
        var quantifier = /^\{(\d*)(?:(,)(\d*))?\}/.exec(src.slice(i));
        if (quantifier && (quantifier[1] !== '' || (quantifier[2] && quantifier[3] !== ''))) {
          out += '{' + (quantifier[1] || '0') + (quantifier[2] ? ',' + quantifier[3] : '') + '}';
          i += quantifier[0].length;
        } else {
          out += '\\{';
          i += 1;
        }
        continue;
      }
      if (c === '}' || c === ']') {
        out += '\\' + c;
      } else if (c === '$' && !multiline) {
        out += '(?=\\n?(?![\\s\\S]))';
      } else if (c === '.' && !dotAll) {
        out += '[^\\n]';
      } else if (c === '/') {
        out += '\\/';
      } else {
        out += c;
      }
      i += 1;
    }
    if (inClass) throw new Error('unterminated character set');
    return new RegExp(out, flags);
  }

  var regexCache = new Map();

  function compileRegex(pattern, position) {
    var cached = regexCache.get(pattern);
    if (cached) return cached;
    var compiled;
    try {
      compiled = translateRegex(pattern);
    } catch (error) {
      fail('invalid regular expression ' + JSON.stringify(pattern) + ' (' + error.message + ')', position);
    }
    if (regexCache.size > 256) regexCache.clear();
    regexCache.set(pattern, compiled);
    return compiled;
  }

  // --- lexer ---------------------------------------------------------------------------------------

  var NUMBER_RE = /[0-9]+(?:\.[0-9]*)?|\.[0-9]+/y;
  var NAME_RE = /[A-Za-z_][A-Za-z0-9_-]*/y;
  var CODE_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
  var OPERATORS = ['<=', '>=', '!=', '<', '>', '=', '+', '-', '*', '(', ')', ',', '.'];

  function tokenize(source) {
    var tokens = [];
    var i = 0;
    while (i < source.length) {
      var c = source[i];
      if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
        i += 1;
        continue;
      }
      NUMBER_RE.lastIndex = i;
      var number = NUMBER_RE.exec(source);
      if (number) {
        tokens.push({ type: 'NUMBER', text: number[0], pos: i });
        i += number[0].length;
        continue;
      }
      if (c === "'" || c === '"') {
        var close = source.indexOf(c, i + 1);
        if (close < 0) fail('string opened with ' + c + ' is not closed', i);
        tokens.push({ type: 'STRING', text: source.slice(i, close + 1), pos: i });
        i = close + 1;
        continue;
      }
      if (source.startsWith('${', i)) {
        var end = source.indexOf('}', i + 2);
        if (end < 0) fail("'${' is not closed with '}'", i);
        tokens.push({ type: 'REF', text: source.slice(i, end + 1), pos: i });
        i = end + 1;
        continue;
      }
      NAME_RE.lastIndex = i;
      var name = NAME_RE.exec(source);
      if (name) {
        var word = name[0];
        tokens.push({ type: KEYWORDS[word] ? word : 'NAME', text: word, pos: i });
        i += word.length;
        continue;
      }
      var op = null;
      for (var k = 0; k < OPERATORS.length; k++) {
        if (source.startsWith(OPERATORS[k], i)) {
          op = OPERATORS[k];
          break;
        }
      }
      if (op === null) fail('unexpected character ' + JSON.stringify(String.fromCodePoint(source.codePointAt(i))), i);
      tokens.push({ type: op, text: op, pos: i });
      i += op.length;
    }
    tokens.push({ type: 'END', text: '', pos: source.length });
    return tokens;
  }

  // --- parser: recursive descent over the same grammar, building the same tree -------------------

  function checkedDepth(children, pos) {
    var deepest = 0;
    for (var k = 0; k < children.length; k++) deepest = Math.max(deepest, children[k].depth);
    var depth = 1 + deepest;
    if (depth > MAX_DEPTH) fail('expression is nested more than ' + MAX_DEPTH + ' levels deep', pos);
    return depth;
  }

  function Parser(source) {
    this.source = source;
    this.tokens = tokenize(source);
    this.index = 0;
    this.nesting = 0;
  }

  Parser.prototype.peek = function () {
    return this.tokens[this.index];
  };

  Parser.prototype.next = function () {
    return this.tokens[this.index++];
  };

  Parser.prototype.unexpected = function (token) {
    if (token.type === 'END') fail('unexpected end of expression', token.pos);
    fail('unexpected ' + JSON.stringify(token.text), token.pos);
  };

  Parser.prototype.expect = function (type) {
    var token = this.next();
    if (token.type !== type) this.unexpected(token);
    return token;
  };

  // Every '(', unary minus and call adds a level to the tree: past MAX_DEPTH the tree is too deep
  // anyway, and stopping here keeps the recursion of this parser short.
  Parser.prototype.enter = function (pos) {
    this.nesting += 1;
    if (this.nesting > MAX_DEPTH) fail('expression is nested more than ' + MAX_DEPTH + ' levels deep', pos);
  };

  Parser.prototype.parse = function () {
    var node = this.orExpr();
    var token = this.peek();
    if (token.type !== 'END') this.unexpected(token);
    return node;
  };

  Parser.prototype.logical = function (op, left, right) {
    var operands = [];
    [left, right].forEach(function (node) {
      if (node.kind === 'logical' && node.op === op) operands.push.apply(operands, node.operands);
      else operands.push(node);
    });
    return { kind: 'logical', op: op, operands: operands, pos: left.pos, depth: checkedDepth(operands, left.pos) };
  };

  Parser.prototype.orExpr = function () {
    var left = this.andExpr();
    while (this.peek().type === 'or') {
      this.next();
      left = this.logical('or', left, this.andExpr());
    }
    return left;
  };

  Parser.prototype.andExpr = function () {
    var left = this.binaryLevel(0);
    while (this.peek().type === 'and') {
      this.next();
      left = this.logical('and', left, this.binaryLevel(0));
    }
    return left;
  };

  var BINARY_LEVELS = [['=', '!='], ['<', '<=', '>', '>='], ['+', '-'], ['*', 'div', 'mod']];

  Parser.prototype.binaryLevel = function (level) {
    if (level === BINARY_LEVELS.length) return this.unary();
    var left = this.binaryLevel(level + 1);
    while (BINARY_LEVELS[level].indexOf(this.peek().type) >= 0) {
      var op = this.next().type;
      var right = this.binaryLevel(level + 1);
      left = { kind: 'binary', op: op, left: left, right: right, pos: left.pos, depth: checkedDepth([left, right], left.pos) };
    }
    return left;
  };

  Parser.prototype.unary = function () {
    var token = this.peek();
    if (token.type !== '-') return this.primary();
    this.next();
    this.enter(token.pos);
    var operand = this.unary();
    this.nesting -= 1;
    return { kind: 'negate', operand: operand, pos: token.pos, depth: checkedDepth([operand], token.pos) };
  };

  Parser.prototype.primary = function () {
    var token = this.next();
    switch (token.type) {
      case 'NUMBER':
        return { kind: 'literal', value: decimal(token.text), pos: token.pos, depth: 1 };
      case 'STRING':
        return { kind: 'literal', value: token.text.slice(1, -1), pos: token.pos, depth: 1 };
      case 'REF': {
        var code = token.text.slice(2, -1);
        if (!CODE_RE.test(code)) {
          fail('invalid item code ' + JSON.stringify(code) + ' in ${...} (expected letters, digits and _)', token.pos);
        }
        return { kind: 'reference', code: code, pos: token.pos, depth: 1 };
      }
      case '.':
        return { kind: 'current', pos: token.pos, depth: 1 };
      case '(': {
        this.enter(token.pos);
        var inner = this.orExpr();
        this.expect(')');
        this.nesting -= 1;
        var grouped = Object.assign({}, inner);
        grouped.depth = checkedDepth([inner], token.pos);
        return grouped;
      }
      case 'NAME':
        return this.call(token);
      default:
        return this.unexpected(token);
    }
  };

  Parser.prototype.call = function (nameToken) {
    var name = nameToken.text;
    var pos = nameToken.pos;
    if (this.peek().type !== '(') {
      if (FUNCTIONS[name]) fail('function ' + name + "() must be followed by '('", pos);
      fail(
        JSON.stringify(name) + ' is neither a function call nor a value',
        pos,
        '; write ${' + name + "} for an item's answer or '" + name + "' for text"
      );
    }
    var open = this.next();
    this.enter(open.pos);
    var args = [];
    if (this.peek().type !== ')') {
      args.push(this.orExpr());
      while (this.peek().type === ',') {
        this.next();
        args.push(this.orExpr());
      }
    }
    this.expect(')');
    this.nesting -= 1;
    if (!Object.prototype.hasOwnProperty.call(FUNCTIONS, name)) fail('unknown function ' + name + '()', pos);
    var low = FUNCTIONS[name][0];
    var high = FUNCTIONS[name][1];
    if (args.length < low || (high !== null && args.length > high)) {
      var expected = low === high ? String(low) : high === null ? low + ' or more' : low + ' to ' + high;
      fail(name + '() takes ' + expected + ' argument(s), not ' + args.length, pos);
    }
    if (name === 'regex' && args[1].kind === 'literal' && typeof args[1].value === 'string') {
      compileRegex(args[1].value, args[1].pos);
    }
    return { kind: 'call', name: name, args: args, pos: pos, depth: checkedDepth(args, pos) };
  };

  // --- public API ----------------------------------------------------------------------------------

  function walk(node, visit) {
    visit(node);
    if (node.kind === 'negate') walk(node.operand, visit);
    else if (node.kind === 'binary') {
      walk(node.left, visit);
      walk(node.right, visit);
    } else if (node.kind === 'logical' || node.kind === 'call') {
      (node.kind === 'logical' ? node.operands : node.args).forEach(function (child) {
        walk(child, visit);
      });
    }
  }

  function Expression(source, root) {
    var references = new Set();
    var usesCurrent = false;
    walk(root, function (node) {
      if (node.kind === 'reference') references.add(node.code);
      else if (node.kind === 'current' || (node.kind === 'call' && !node.args.length && CURRENT_BY_DEFAULT[node.name])) {
        usesCurrent = true;
      }
    });
    this.source = source;
    this.references = Array.from(references).sort();
    this.usesCurrent = usesCurrent;
    this.root = root;
  }

  Expression.prototype.evaluate = function (values, current) {
    return evaluateNode(this.root, values || {}, current);
  };

  Expression.prototype.isTrue = function (values, current) {
    return toBoolean(evaluateNode(this.root, values || {}, current));
  };

  var parseCache = new Map();

  function parse(source) {
    if (typeof source !== 'string') throw new TypeError('expression source must be a string');
    var cached = parseCache.get(source);
    if (cached) return cached;
    if (!source.trim()) throw ExpressionError('expression is empty', 0);
    if (source.length > MAX_SOURCE_LENGTH) {
      throw ExpressionError(
        'expression is ' + source.length + ' characters long; at most ' + MAX_SOURCE_LENGTH + ' are allowed',
        MAX_SOURCE_LENGTH
      );
    }
    var expression = new Expression(source, new Parser(source).parse());
    if (parseCache.size > 2048) parseCache.clear();
    parseCache.set(source, expression);
    return expression;
  }

  function lookup(values, code) {
    if (values instanceof Map) return values.has(code) ? values.get(code) : null;
    return Object.prototype.hasOwnProperty.call(values, code) ? values[code] : null;
  }

  var RELATIONAL = {
    '<': function (c) {
      return c < 0;
    },
    '<=': function (c) {
      return c <= 0;
    },
    '>': function (c) {
      return c > 0;
    },
    '>=': function (c) {
      return c >= 0;
    },
  };
  var ARITHMETIC = { '+': add, '-': subtract, '*': multiply, 'div': divide, 'mod': remainder };

  function evaluateNode(node, values, current) {
    switch (node.kind) {
      case 'literal':
        return node.value;
      case 'reference':
        return fromAnswer(lookup(values, node.code));
      case 'current':
        return fromAnswer(current);
      case 'negate':
        return minus(toNumber(evaluateNode(node.operand, values, current)));
      case 'logical': {
        var stopAt = node.op === 'or';
        for (var k = 0; k < node.operands.length; k++) {
          if (toBoolean(evaluateNode(node.operands[k], values, current)) === stopAt) return stopAt;
        }
        return !stopAt;
      }
      case 'binary': {
        var left = evaluateNode(node.left, values, current);
        var right = evaluateNode(node.right, values, current);
        if (node.op === '=') return equals(left, right);
        if (node.op === '!=') return !equals(left, right);
        var a = toNumber(left);
        var b = toNumber(right);
        if (RELATIONAL[node.op]) return !(isNaNDec(a) || isNaNDec(b)) && RELATIONAL[node.op](compare(a, b));
        return ARITHMETIC[node.op](a, b);
      }
      default:
        return callFunction(node, values, current);
    }
  }

  function roundDecimal(number, places) {
    if (number.special) return number;
    if (isNaNDec(places)) return NAN;
    if (isInf(places)) return places.sign ? ZERO : number;
    var truncated = truncate(places);
    var digits = Number(decimalToString(truncated));
    if (number.exp >= -digits) return number; // already has no more decimals than asked for
    if (-digits > adjusted(number) + 1) return ZERO; // |number| < a tenth of the rounding unit
    return rescale(number, -digits, roundHalfUp);
  }

  function callFunction(node, values, current) {
    var name = node.name;
    var args = node.args;
    if (name === 'if') {
      var chosen = toBoolean(evaluateNode(args[0], values, current)) ? args[1] : args[2];
      return evaluateNode(chosen, values, current);
    }
    if (name === 'coalesce') {
      var first = evaluateNode(args[0], values, current);
      return toText(first) !== '' ? first : evaluateNode(args[1], values, current);
    }
    var a = args.map(function (arg) {
      return evaluateNode(arg, values, current);
    });
    if (!a.length && CURRENT_BY_DEFAULT[name]) a = [fromAnswer(current)];
    switch (name) {
      case 'true':
        return true;
      case 'false':
        return false;
      case 'not':
        return !toBoolean(a[0]);
      case 'selected':
        return pySplit(toText(a[0])).indexOf(toText(a[1]).replace(PY_STRIP, '')) >= 0;
      case 'count-selected':
        return decimal(String(pySplit(toText(a[0])).length));
      case 'string-length':
        return decimal(String(Array.from(toText(a[0])).length));
      case 'number':
        return toNumber(a[0]);
      case 'string':
        return toText(a[0]);
      case 'concat':
        return a.map(toText).join('');
      case 'regex':
        return compileRegex(toText(a[1]), node.pos).test(toText(a[0]));
      case 'int':
        return truncate(toNumber(a[0]));
      case 'round':
        return roundDecimal(toNumber(a[0]), a.length > 1 ? toNumber(a[1]) : ZERO);
      default:
        throw new Error('function ' + name + ' is in FUNCTIONS but not implemented');
    }
  }

  function asExpression(expression) {
    return typeof expression === 'string' ? parse(expression) : expression;
  }

  // Value of an expression: a string, a boolean or a decimal number (see `toText`, `typeOf`).
  function evaluate(expression, values, current) {
    return asExpression(expression).evaluate(values, current);
  }

  // XPath boolean() of `evaluate()`.
  function isTrue(expression, values, current) {
    return asExpression(expression).isTrue(values, current);
  }

  function typeOf(value) {
    return typeof value === 'boolean' ? 'boolean' : typeof value === 'string' ? 'string' : 'number';
  }

  var api = {
    parse: parse,
    evaluate: evaluate,
    isTrue: isTrue,
    decimal: decimal,
    compareDecimals: compare,
    toText: toText,
    typeOf: typeOf,
    ExpressionError: ExpressionError,
    FUNCTIONS: FUNCTIONS,
    MAX_DEPTH: MAX_DEPTH,
    MAX_SOURCE_LENGTH: MAX_SOURCE_LENGTH,
  };
  if (typeof module !== 'undefined' && module.exports) module.exports = api;
  if (root) root.SurveyExpressions = api;
})(typeof window !== 'undefined' ? window : typeof globalThis !== 'undefined' ? globalThis : null);
