/* The officer portal in the browser: progressive enhancement of templates/responses/questionnaire.html.
 *
 * Without this file the portal works through server round trips only (responses/views.py). With it:
 *  - skip logic is applied live: every element with `data-relevant` (item, grid row, grid, section)
 *    is hidden, and its inputs disabled so that hidden answers are not sent, when the questionnaire's
 *    skip logic hides it given the current answers (this page's inputs and the hidden inputs that
 *    carry the other pages' answers). Answers carried from other pages that become hidden are not
 *    sent either. The server applies the same rules again (surveys/questionnaire.py).
 *  - a draft of all answers of the edition is kept in this browser's localStorage, never sent
 *    anywhere: restored when the officer comes back on the same device, deleted after submitting
 *    (the receipt and "already answered" pages carry `data-clear-draft`).
 *  - the country list gets a filter box; the select itself stays and still sends the ISO code.
 *  - on a page with errors, focus moves to the error summary; its links focus the question.
 *  - a blind-signed ballot (anonymity level 2, docs/anonymity.md): on the first page the browser obtains
 *    a ballot through the ballot bundle (static/js/vendor/ballot-*.min.js, window.VettedBallot) and keeps
 *    it in localStorage; the final submit sends all answers with it to the anonymous endpoint, without
 *    cookies, and shows the receipt. Where the browser cannot, the form is submitted as before (level 1)
 *    and the page says so.
 *  - with a ballot (held, being obtained, or held elsewhere) no answer ever goes to the server with the
 *    session: the other pages of the questionnaire, sent empty in inert <template>s, are put into the form
 *    and the browser moves between them itself (Next, Back, progress, skip logic over pages, the checks
 *    of each page); a language change is a GET with the language only. The draft in localStorage keeps
 *    every answer, and the anonymous endpoint has the last word on them.
 *
 * Plain ES2020, no dependencies, no build step; needs static/js/expressions.js loaded first (only for
 * the questionnaire page).
 */
(function () {
  'use strict';

  var PREFIX = 'vetted-survey:draft:v1:';
  var TEXT_LIMITS = { text: 2000, long_text: 20000 };
  var SINGLE_CHOICE = { select_one: true, yes_no: true, country: true };
  var PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
  var PY_STRIP = new RegExp('^[' + PY_SPACE + ']+|[' + PY_SPACE + ']+$', 'g');
  var PY_SPLIT = new RegExp('[' + PY_SPACE + ']+');

  function storage() {
    try {
      var store = window.localStorage;
      var probe = PREFIX + 'probe';
      store.setItem(probe, '1');
      store.removeItem(probe);
      return store;
    } catch (error) {
      return null; // storage disabled (private mode, policy): the portal works without drafts
    }
  }

  function draftPrefix(edition, officer) {
    return PREFIX + edition + ':' + (officer || '') + ':';
  }

  // Delete every draft of this officer for this edition (whatever questionnaire version it was for).
  function clearDrafts(store, edition, officer) {
    var prefix = draftPrefix(edition, officer);
    var doomed = [];
    for (var i = 0; i < store.length; i++) {
      var key = store.key(i);
      if (key && key.indexOf(prefix) === 0) doomed.push(key);
    }
    doomed.forEach(function (key) {
      store.removeItem(key);
    });
    return doomed.length;
  }

  // --- the questionnaire's items, in document order ---------------------------------------------------

  function compileDefinition(definition, E) {
    var items = [];
    var byCode = {};
    var groups = {};

    function parsed(source) {
      if (!source) return null;
      try {
        return E.parse(source);
      } catch (error) {
        return undefined; // cannot evaluate here: leave it shown and let the server decide
      }
    }

    function isGroup(node) {
      return node.kind === 'group' || (node.kind === undefined && Array.isArray(node.children));
    }

    var language = document.documentElement.lang;
    function text(texts) {
      texts = texts || {};
      return texts[language] || texts[definition.default_language] || Object.values(texts)[0] || '';
    }

    // The server's choice of a message (surveys/questionnaire.py _text): this language, else the first.
    function message(texts) {
      texts = texts || {};
      return texts[language] || Object.values(texts)[0] || '';
    }

    function walk(group, chain, page) {
      var here = { code: group.code, expr: parsed(group.relevant) };
      groups[group.code] = here;
      chain = chain.concat([here]);
      (group.children || []).forEach(function (child) {
        if (isGroup(child)) {
          walk(child, chain, page);
          return;
        }
        var list = child.choice_list ? definition.choice_lists[child.choice_list] || [] : null;
        var item = {
          code: child.code,
          type: child.type,
          expr: parsed(child.relevant),
          groups: chain,
          label: text(child.label),
          page: page,
          choices: list ? list.map(function (c) { return c.code; }) : null,
          min: child.min === null || child.min === undefined ? null : E.decimal(String(child.min)),
          max: child.max === null || child.max === undefined ? null : E.decimal(String(child.max)),
          required: Boolean(child.required),
          constraint: parsed(child.constraint),
          requiredMessage: message(child.required_message),
          constraintMessage: message(child.constraint_message),
        };
        items.push(item);
        byCode[item.code] = item;
      });
    }

    var pages = (definition.groups || []).map(function (page, index) {
      walk(page, [], index);
      return { label: text(page.label) };
    });
    return { items: items, byCode: byCode, groups: groups, pages: pages };
  }

  function pyStrip(text) {
    return text.replace(PY_STRIP, '');
  }

  function withinBounds(item, value, E) {
    if (item.min && !item.min.special && E.compareDecimals(value, item.min) < 0) return false;
    if (item.max && !item.max.special && E.compareDecimals(value, item.max) > 0) return false;
    return true;
  }

  // The typed answer the server would see (surveys/questionnaire.py ItemSpec.clean_answer), or null
  // when unanswered or invalid (the server then treats it as unanswered for skip logic too).
  function cleanAnswer(item, raw, E) {
    if (raw === undefined || raw === null || raw === '' || (Array.isArray(raw) && !raw.length)) return null;
    if (item.type === 'note') return null;
    if (TEXT_LIMITS[item.type]) {
      if (typeof raw !== 'string' || raw.indexOf('\u0000') >= 0) return null;
      var text = pyStrip(raw);
      if (Array.from(text).length > TEXT_LIMITS[item.type]) return null;
      return text || null;
    }
    if (SINGLE_CHOICE[item.type]) {
      if (typeof raw !== 'string') return null;
      if (item.choices) return item.choices.indexOf(raw) >= 0 ? raw : null;
      return /^[A-Z]{2}$/.test(raw) ? raw : null; // a country item without a list: ISO codes
    }
    if (item.type === 'select_multiple') {
      var codes = typeof raw === 'string' ? raw.split(PY_SPLIT).filter(Boolean) : raw;
      var choices = item.choices || [];
      if (codes.some(function (c) { return choices.indexOf(c) < 0; })) return null;
      var chosen = choices.filter(function (c) { return codes.indexOf(c) >= 0; });
      return chosen.length ? chosen : null;
    }
    var number = null;
    if (item.type === 'integer') {
      var digits = pyStrip(String(raw));
      if (/^[+-]?[0-9]+$/.test(digits) && digits.length <= 30) number = E.decimal(digits);
    } else if (item.type === 'decimal') {
      var source = String(raw);
      if (source.length <= 40) number = E.decimal(source);
      if (number && number.special) number = null; // NaN and Infinity are refused
    }
    if (!number || !withinBounds(item, number, E)) return null;
    return number;
  }

  // Python's repr() of a string, as the server quotes a code that is not among the choices.
  function pyRepr(text) {
    var quote = text.indexOf("'") >= 0 && text.indexOf('"') < 0 ? '"' : "'";
    return quote + text.replace(/\\/g, '\\\\').split(quote).join('\\' + quote) + quote;
  }

  // The message the server gives for a value it cannot take (ItemSpec.clean_answer), or null.
  function valueProblem(item, raw, E) {
    if (raw === undefined || raw === null || raw === '' || (Array.isArray(raw) && !raw.length)) return null;
    if (TEXT_LIMITS[item.type]) {
      if (typeof raw !== 'string') return 'Expected text.';
      if (raw.indexOf('\u0000') >= 0) return 'Text must not contain NUL characters.';
      var limit = TEXT_LIMITS[item.type];
      if (Array.from(pyStrip(raw)).length > limit) return 'At most ' + limit.toLocaleString('en-US') + ' characters, please.';
      return null;
    }
    if (SINGLE_CHOICE[item.type]) {
      if (typeof raw !== 'string') return 'Expected one choice code.';
      return cleanAnswer(item, raw, E) === null ? pyRepr(raw) + ' is not one of the choices.' : null;
    }
    if (item.type === 'select_multiple') {
      var codes = typeof raw === 'string' ? raw.split(PY_SPLIT).filter(Boolean) : [].concat(raw);
      var unknown = codes.filter(function (c) { return (item.choices || []).indexOf(c) < 0; });
      return unknown.length ? 'Not among the choices: ' + unknown.map(String).map(pyRepr).join(', ') + '.' : null;
    }
    var number;
    if (item.type === 'integer') {
      var digits = pyStrip(String(raw));
      if (!/^[+-]?[0-9]{1,30}$/.test(digits)) return 'Expected a whole number.';
      number = E.decimal(digits);
    } else if (item.type === 'decimal') {
      number = String(raw).length <= 40 ? E.decimal(String(raw)) : null;
      if (!number) return 'Expected a number.';
      if (number.special) return 'Expected a finite number.';
    } else {
      return null;
    }
    if (item.min && !item.min.special && E.compareDecimals(number, item.min) < 0) {
      return 'The smallest allowed value is ' + E.toText(item.min) + '.';
    }
    if (item.max && !item.max.special && E.compareDecimals(number, item.max) > 0) {
      return 'The largest allowed value is ' + E.toText(item.max) + '.';
    }
    return null;
  }

  // The problems the server would report for the asked items among `codes` (all items when null), as
  // far as this browser can tell (Questionnaire.clean_answers): values it cannot take, required answers
  // missing, constraints broken. A constraint this file cannot evaluate is left to the server.
  function answerProblems(model, raw, E, codes) {
    var state = applySkipLogic(model, raw, E);
    var problems = {};
    model.items.forEach(function (item) {
      if ((codes && !codes[item.code]) || !state.asked[item.code]) return;
      var problem = valueProblem(item, raw[item.code], E);
      if (problem) {
        problems[item.code] = [problem];
        return;
      }
      var value = state.values[item.code];
      if (value === null) {
        if (item.required) problems[item.code] = [item.requiredMessage || 'This question needs an answer.'];
        return;
      }
      if (!item.constraint) return;
      var holds;
      try {
        holds = item.constraint.isTrue(state.values, value);
      } catch (error) {
        holds = true;
      }
      if (!holds) problems[item.code] = [item.constraintMessage || 'This answer is not allowed.'];
    });
    return problems;
  }

  // --- the form --------------------------------------------------------------------------------------

  function isAnswerControl(el) {
    var name = el.name;
    return Boolean(name) && name.charAt(0) !== '_' && name !== 'csrfmiddlewaretoken' && !el.hasAttribute('data-portal-ui');
  }

  function isCarried(el) {
    return el.type === 'hidden';
  }

  // Raw answers as the server reads them from the form (raw_answers_from_form): lists for
  // multiple choice, the last value otherwise, empty values left out. Inputs this script disabled
  // (hidden by skip logic) still count here, so that they come back when shown again.
  function readForm(form, model) {
    var raw = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!isAnswerControl(el)) return;
      if (el.disabled && !el.hasAttribute('data-skip-disabled')) return;
      if ((el.type === 'radio' || el.type === 'checkbox') && !el.checked) return;
      var item = model && model.byCode[el.name];
      var multiple = item ? item.type === 'select_multiple' : el.type === 'checkbox';
      if (multiple) {
        (raw[el.name] = raw[el.name] || []).push(el.value);
      } else if (el.value !== '') {
        raw[el.name] = el.value;
      }
    });
    return raw;
  }

  // Which items skip logic shows, in document order; a hidden item counts as unanswered for the
  // items after it (Questionnaire.asked_items).
  function applySkipLogic(model, raw, E) {
    var values = {};
    model.items.forEach(function (item) {
      values[item.code] = cleanAnswer(item, raw[item.code], E);
    });
    var asked = {};
    var groupShown = {};
    function holds(expr) {
      if (expr === null) return true;
      if (expr === undefined) return true;
      try {
        return expr.isTrue(values);
      } catch (error) {
        return true;
      }
    }
    model.items.forEach(function (item) {
      var shown = true;
      item.groups.forEach(function (group) {
        if (!(group.code in groupShown)) groupShown[group.code] = holds(group.expr);
        shown = shown && holds(group.expr);
      });
      shown = shown && holds(item.expr);
      if (shown) asked[item.code] = true;
      else values[item.code] = null;
    });
    return { asked: asked, groupShown: groupShown, values: values };
  }

  function setControlsEnabled(container, enabled) {
    container.querySelectorAll('input, select, textarea').forEach(function (control) {
      if (control.hasAttribute('data-portal-ui')) return;
      if (!enabled && !control.disabled) {
        control.disabled = true;
        control.setAttribute('data-skip-disabled', '');
      } else if (enabled && control.hasAttribute('data-skip-disabled')) {
        control.disabled = false;
        control.removeAttribute('data-skip-disabled');
      }
    });
  }

  function showRelevant(form, model, state, E) {
    var elements = form.querySelectorAll('[data-relevant]');
    elements.forEach(function (el) {
      var code = el.getAttribute('data-code') || el.id.replace(/^q-/, '');
      var shown;
      if (model && model.byCode[code]) shown = Boolean(state.asked[code]);
      else if (model && code in state.groupShown) shown = state.groupShown[code];
      else {
        var source = el.getAttribute('data-relevant');
        try {
          shown = !source || E.isTrue(source, state.values);
        } catch (error) {
          shown = true;
        }
      }
      el.hidden = !shown;
    });
    // Enable what is visible, disable what is not (an element can be inside a hidden section).
    elements.forEach(function (el) {
      setControlsEnabled(el, !el.closest('[hidden]'));
    });
    // Answers carried from other pages: not sent while skip logic hides their question.
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!isCarried(el) || !isAnswerControl(el) || !model || !model.byCode[el.name]) return;
      if (state.asked[el.name]) {
        if (el.hasAttribute('data-skip-disabled')) {
          el.disabled = false;
          el.removeAttribute('data-skip-disabled');
        }
      } else if (!el.disabled) {
        el.disabled = true;
        el.setAttribute('data-skip-disabled', '');
      }
    });
  }

  // What the server would keep (Questionnaire.without_hidden): answers to shown items, and any
  // code the questionnaire does not know (the server reports those).
  function answersToKeep(raw, model, state) {
    var kept = {};
    Object.keys(raw).forEach(function (code) {
      if (!model || !model.byCode[code] || state.asked[code]) kept[code] = raw[code];
    });
    return kept;
  }

  function isPristine(form) {
    return !Array.prototype.some.call(form.elements, function (el) {
      if (!isAnswerControl(el)) return false;
      if (el.type === 'radio' || el.type === 'checkbox') return el.checked;
      return el.value !== '';
    });
  }

  function asList(value) {
    return Array.isArray(value) ? value.map(String) : [String(value)];
  }

  function fillControl(el, list) {
    if (el.type === 'radio' || el.type === 'checkbox') el.checked = list.indexOf(el.value) >= 0;
    else if (el.tagName === 'SELECT') {
      if (Array.prototype.some.call(el.options, function (o) { return o.value === list[0]; })) el.value = list[0];
    } else el.value = list[0];
  }

  // Put `answers` into the controls inside `container` (the answers of other pages are left alone).
  function fillControls(container, answers) {
    container.querySelectorAll('input, select, textarea').forEach(function (el) {
      if (!isAnswerControl(el) || isCarried(el)) return;
      if (Object.prototype.hasOwnProperty.call(answers, el.name)) fillControl(el, asList(answers[el.name]));
    });
  }

  function fillForm(form, answers) {
    var onPage = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (isAnswerControl(el) && !isCarried(el)) onPage[el.name] = true;
    });
    Object.keys(answers).forEach(function (code) {
      var list = asList(answers[code]);
      if (onPage[code]) {
        Array.prototype.forEach.call(form.elements, function (el) {
          if (el.name === code && !isCarried(el)) fillControl(el, list);
        });
        return;
      }
      list.forEach(function (one) {
        var input = document.createElement('input');
        input.type = 'hidden';
        input.name = code;
        input.value = one;
        input.setAttribute('data-restored', '');
        form.appendChild(input);
      });
    });
  }

  function emptyForm(form) {
    form.querySelectorAll('input[data-restored]').forEach(function (el) {
      el.remove();
    });
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!isAnswerControl(el) || isCarried(el)) return;
      if (el.type === 'radio' || el.type === 'checkbox') el.checked = false;
      else el.value = '';
    });
  }

  // --- searchable country list -------------------------------------------------------------------------

  function fold(text) {
    return text.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
  }

  function makeSearchable(select, onChosen) {
    var options = Array.prototype.slice.call(select.options);
    var placeholder = options.filter(function (o) { return o.value === ''; });
    var choices = options.filter(function (o) { return o.value !== ''; });
    var id = select.id + '-filter';
    var wrapper = document.createElement('div');
    wrapper.className = 'list-filter';
    var label = document.createElement('label');
    label.htmlFor = id;
    label.className = 'list-filter-label';
    label.textContent = 'Type to narrow the list';
    var input = document.createElement('input');
    input.type = 'search';
    input.id = id;
    input.autocomplete = 'off';
    input.setAttribute('data-portal-ui', '');
    input.setAttribute('aria-controls', select.id);
    input.setAttribute('aria-describedby', id + '-count');
    var count = document.createElement('p');
    count.id = id + '-count';
    count.className = 'hint list-filter-count';
    count.setAttribute('aria-live', 'polite');
    wrapper.appendChild(label);
    wrapper.appendChild(input);
    wrapper.appendChild(count);
    select.parentNode.insertBefore(wrapper, select);

    function filter() {
      var query = fold(input.value.trim());
      var current = select.value;
      var matches = choices.filter(function (o) {
        return !query || fold(o.text).indexOf(query) >= 0 || o.value.toLowerCase() === query;
      });
      var shown = placeholder.concat(matches);
      var selected = choices.filter(function (o) { return o.value === current; })[0];
      if (selected && matches.indexOf(selected) < 0) shown.push(selected); // keep the answer given
      select.replaceChildren.apply(select, shown);
      select.value = current;
      if (query && matches.length === 1 && select.value !== matches[0].value) {
        select.value = matches[0].value;
        onChosen();
      }
      count.textContent = !query
        ? ''
        : matches.length === 1
          ? '1 match: ' + matches[0].text + ' is chosen.'
          : matches.length + ' matches in the list below.';
      return matches;
    }

    input.addEventListener('input', filter);
    input.addEventListener('keydown', function (event) {
      if (event.key === 'Enter') {
        event.preventDefault(); // choose, do not submit the page
        var matches = filter();
        if (matches.length) {
          if (select.value !== matches[0].value) {
            select.value = matches[0].value;
            onChosen();
          }
          select.focus();
        }
      } else if (event.key === 'Escape' && input.value) {
        event.preventDefault();
        input.value = '';
        filter();
      }
    });
  }

  // --- answer errors found in the browser or by the anonymous endpoint (level 1: rendered by the server) ---

  function clearShownErrors(form) {
    var summary = document.getElementById('error-summary');
    if (summary) summary.remove();
    form.querySelectorAll('.field-error').forEach(function (el) {
      el.remove();
    });
    form.querySelectorAll('.has-error, [aria-invalid]').forEach(function (el) {
      el.classList.remove('has-error');
      el.removeAttribute('aria-invalid');
    });
  }

  function markError(container, code, messages) {
    var text = messages.join(' ');
    var error = document.createElement(container.tagName === 'TR' ? 'span' : 'p');
    error.className = 'field-error';
    error.id = 'e-' + code;
    error.textContent = text;
    if (container.tagName === 'TR') {
      container.querySelector('th').appendChild(error);
    } else {
      var hint = document.getElementById('h-' + code);
      var after = hint && container.contains(hint) ? hint : container.querySelector('legend, label.question');
      if (after) after.insertAdjacentElement('afterend', error);
      else container.insertBefore(error, container.firstChild);
      container.classList.add('has-error');
    }
    container.querySelectorAll('input:not([type=hidden]), select, textarea').forEach(function (control) {
      if (control.hasAttribute('data-portal-ui')) return;
      var described = (control.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
      if (described.indexOf(error.id) < 0) described.push(error.id);
      control.setAttribute('aria-describedby', described.join(' '));
      if (control.type !== 'radio' && control.type !== 'checkbox') control.setAttribute('aria-invalid', 'true');
    });
  }

  // Show `errors` ({item code: [messages]}) like the server does: next to the questions on this page and
  // in a summary above the heading; questions on other pages get a link that goes there
  // (goToPage(page, errors) shows that page and the errors again).
  function showAnswerErrors(form, model, errors, goToPage) {
    clearShownErrors(form);
    var codes = Object.keys(errors);
    var summary = document.createElement('div');
    summary.className = 'error-summary';
    summary.id = 'error-summary';
    summary.setAttribute('role', 'alert');
    summary.tabIndex = -1;
    var heading = document.createElement('h2');
    heading.textContent = codes.length === 1 ? 'There is a problem with your answers' : 'There are problems with your answers';
    var list = document.createElement('ul');
    summary.appendChild(heading);
    summary.appendChild(list);
    codes.forEach(function (code) {
      var messages = [].concat(errors[code]).map(String);
      var container = document.getElementById('q-' + code);
      var item = model && model.byCode[code];
      var here = container && form.contains(container) && !container.closest('[hidden]');
      if (here) markError(container, code, messages);
      messages.forEach(function (message) {
        var entry = document.createElement('li');
        var link = document.createElement('a');
        if (here) {
          link.href = '#q-' + code;
          link.textContent = message;
        } else if (item) {
          link.href = '#';
          link.textContent = model.pages[item.page].label + ': ' + item.label + ' — ' + message;
          link.addEventListener('click', function (event) {
            event.preventDefault();
            goToPage(item.page, errors);
          });
        } else {
          link = document.createElement('span');
          link.textContent = code + ': ' + message;
        }
        entry.appendChild(link);
        list.appendChild(entry);
      });
    });
    var title = document.querySelector('main h1');
    title.parentNode.insertBefore(summary, title);
    summary.addEventListener('click', function (event) {
      var link = event.target.closest('a[href^="#q-"]');
      var target = link && document.getElementById(link.getAttribute('href').slice(1));
      var control =
        target && target.querySelector('input:not([type=hidden]):not([disabled]):not([data-portal-ui]), select, textarea');
      if (!control) return;
      event.preventDefault();
      target.scrollIntoView({ block: 'center' });
      control.focus();
    });
    summary.focus();
  }

  // --- pages in the browser (ballot mode) ------------------------------------------------------------------
  //
  // With a ballot no page change may reach the server, because the request would carry the session. The
  // server sends the other pages empty, as inert <template>s (never shown or sent without script); here
  // they become hidden pages of the form, filled from the answers known so far, and Next, Back, the
  // progress bar and which pages have anything to show are worked out from the skip logic.

  function startPager(form, model, E, hooks) {
    var title = document.getElementById('page-title');
    var pageInput = form.querySelector('input[name="_page"]');
    var nav = form.querySelector('.nav-buttons');
    var progress = document.querySelector('.progress');
    var progressText = document.querySelector('.progress-text');
    var first = form.querySelector('.page[data-page]');
    var templates = document.querySelectorAll('template.page-template');
    if (!title || !pageInput || !nav || !progress || !progressText || !first) return null;
    if (templates.length + 1 !== model.pages.length) return null; // not every page is here: stay level 1
    var index = Number(first.getAttribute('data-page'));

    // Every answer known so far: this page's, and the hidden fields carrying or restoring the others.
    var known = hooks.refresh().raw;
    Array.prototype.slice.call(form.elements).forEach(function (el) {
      if (isAnswerControl(el) && isCarried(el)) el.remove(); // the pages themselves take their place
    });
    var pages = [];
    pages[index] = first;
    var last = first;
    templates.forEach(function (template) {
      var number = Number(template.getAttribute('data-page'));
      var page = document.createElement('div');
      page.className = 'page';
      page.setAttribute('data-page', String(number));
      page.hidden = true;
      page.appendChild(template.content.cloneNode(true));
      template.remove();
      fillControls(page, known);
      pages[number] = page;
      if (number < index) first.parentNode.insertBefore(page, first);
      else {
        last.parentNode.insertBefore(page, last.nextSibling);
        last = page;
      }
      page.querySelectorAll('select[data-searchable]').forEach(hooks.searchable);
    });

    function made(action, text, secondary) {
      var button = nav.querySelector('button[name="_action"][value="' + action + '"]');
      if (button) return button;
      button = document.createElement('button');
      button.type = 'submit';
      button.name = '_action';
      button.value = action;
      button.textContent = text;
      if (secondary) button.className = 'secondary';
      return button;
    }
    var buttons = { next: made('next', 'Next'), submit: made('submit', 'Submit your answers'), back: made('back', 'Back', true) };

    function codesOn(number) {
      var codes = {};
      model.items.forEach(function (item) {
        if (item.page === number) codes[item.code] = true;
      });
      return codes;
    }

    // The pages with a question the skip logic shows (the server's `shown`).
    function shownPages(state) {
      var has = {};
      model.items.forEach(function (item) {
        if (state.asked[item.code]) has[item.page] = true;
      });
      return pages
        .map(function (page, number) {
          return number;
        })
        .filter(function (number) {
          return has[number] && pages[number];
        });
    }

    // Progress and buttons for the page shown, given the answers (as the server renders them).
    function update(state) {
      var shown = shownPages(state);
      var count = shown.length || 1;
      var position = shown.indexOf(index) + 1 || 1;
      progress.setAttribute('aria-valuemax', String(count));
      progress.setAttribute('aria-valuenow', String(position));
      var bar = progress.querySelector('.bar');
      if (bar) bar.className = 'bar pct-' + Math.round((position * 100) / count);
      progressText.textContent = 'Page ' + position + ' of ' + count;
      var isFirst = !shown.length || index <= shown[0];
      var isLast = !shown.length || index >= shown[shown.length - 1];
      var wanted = [isLast ? buttons.submit : buttons.next].concat(isFirst ? [] : [buttons.back]);
      var present = Array.prototype.slice.call(nav.children);
      if (present.length !== wanted.length || present.some(function (el, i) { return el !== wanted[i]; })) {
        nav.replaceChildren.apply(nav, wanted);
      }
    }

    function show(number) {
      index = number;
      pages.forEach(function (page, i) {
        if (page) page.hidden = i !== number;
      });
      pageInput.value = String(number);
      title.textContent = model.pages[number].label;
      document.title = model.pages[number].label + ' · ' + form.getAttribute('data-title');
      clearShownErrors(form);
      hooks.moved(number);
      update(hooks.changed().state); // saves the draft with its new page
      window.scrollTo(0, 0);
      title.tabIndex = -1;
      title.focus({ preventScroll: true });
    }

    // The shown page nearest to `number` at or before it (else the first shown page).
    function showNear(number) {
      var shown = shownPages(hooks.refresh().state);
      var before = shown.filter(function (i) {
        return i <= number;
      });
      var target = before.length ? before[before.length - 1] : shown.length ? shown[0] : index;
      if (target !== index) show(target);
    }

    function go(number, errors) {
      show(number);
      if (errors) showAnswerErrors(form, model, errors, go);
    }

    function next() {
      var current = hooks.refresh();
      var problems = answerProblems(model, current.raw, E, codesOn(index));
      if (Object.keys(problems).length) {
        showAnswerErrors(form, model, problems, go);
        return;
      }
      var later = shownPages(current.state).filter(function (i) {
        return i > index;
      });
      if (later.length) show(later[0]);
    }

    function back() {
      var earlier = shownPages(hooks.refresh().state).filter(function (i) {
        return i < index;
      });
      if (earlier.length) show(earlier[earlier.length - 1]);
    }

    // Before sending: every problem the browser can find, shown from the first page that has one.
    function checkAll() {
      var problems = answerProblems(model, hooks.refresh().raw, E, null);
      var codes = Object.keys(problems);
      if (!codes.length) return true;
      var firstPage = Math.min.apply(
        null,
        codes.map(function (code) {
          return model.byCode[code] ? model.byCode[code].page : index;
        })
      );
      if (firstPage !== index) show(firstPage);
      showAnswerErrors(form, model, problems, go);
      return false;
    }

    // A new language is a new page from the server, asked for with the language only; the page the
    // officer is on travels in the fragment, which browsers never send.
    function changeLanguage(code) {
      var url = new URL(window.location.href);
      url.search = '?lang=' + encodeURIComponent(code);
      url.hash = 'page-' + index;
      window.location.assign(url.toString());
    }

    function allowSubmit(allowed) {
      buttons.submit.disabled = !allowed;
    }

    update(hooks.refresh().state);
    return {
      update: update,
      next: next,
      back: back,
      go: go,
      showNear: showNear,
      checkAll: checkAll,
      changeLanguage: changeLanguage,
      allowSubmit: allowSubmit,
    };
  }

  // The page asked for in the fragment (#page-N, set by a language change), removed once read.
  function pageFromFragment() {
    var match = /^#page-([0-9]+)$/.exec(window.location.hash);
    if (!match) return null;
    try {
      window.history.replaceState(null, '', window.location.pathname + window.location.search);
    } catch (error) {
      // the fragment stays in the address bar; harmless
    }
    return Number(match[1]);
  }

  // --- blind-signed ballot (anonymity level 2) -------------------------------------------------------------

  var BALLOT_PREFIX = 'vetted-survey:ballot:v1:';
  var LEVEL_1 =
    'so your answers will be sent the standard way when you submit: with your login. They are stored apart ' +
    'from your name and cannot be linked to you from the database, but the live server sees who sends them.';
  var LEVEL_2 =
    'Your answers will be sent with a blind-signed ballot kept in this browser. The server signed it once, ' +
    'after checking that you may answer, without seeing it; your answers go with the ballot and without your ' +
    'login, so not even the live server can tell which answers are yours. Moving between pages happens in ' +
    'this browser: nothing you answer leaves it until you submit.';
  var RETRYING =
    'This browser keeps your answers and tries again in a moment (it asks with the same request, so the server ' +
    'gives the same ballot again, never a second one). Moving between pages happens in this browser: nothing ' +
    'you answer leaves it.';
  var ALREADY_ISSUED =
    'A ballot for this questionnaire has already been issued to you, but it is not in this browser: ' +
    'it was probably obtained on another device or in another browser, or this browser’s storage ' +
    'was cleared. Your answers can only be sent from the browser that holds that ballot, so they ' +
    'cannot be sent from here. If you have already sent your answers, there is nothing more to do.';
  var RETRY_SECONDS = [2, 5, 15, 30, 60];
  var KEY_TIMEOUT_MS = 30000;
  var ISSUE_TIMEOUT_MS = 30000;
  var SUBMIT_TIMEOUT_MS = 60000;

  function readStored(store, key) {
    try {
      return JSON.parse(store.getItem(key) || 'null');
    } catch (error) {
      return null;
    }
  }

  function writeStored(store, key, value) {
    try {
      store.setItem(key, JSON.stringify(value));
      return true;
    } catch (error) {
      return false;
    }
  }

  // fetch, then {status, body} with body the parsed JSON (null when there is none); a network failure or
  // no answer within `timeout` milliseconds rejects.
  function request(url, options, timeout) {
    var controller = typeof AbortController === 'function' ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, timeout) : null;
    if (controller) options = Object.assign({ signal: controller.signal }, options);
    return fetch(url, options)
      .then(function (response) {
        return response.text().then(function (text) {
          var body = null;
          try {
            body = text ? JSON.parse(text) : null;
          } catch (error) {
            body = null;
          }
          return { status: response.status, body: body };
        });
      })
      .finally(function () {
        clearTimeout(timer);
      });
  }

  function detailOf(body) {
    return body && typeof body.detail === 'string' ? ' (' + body.detail + ')' : '';
  }

  // The refusal's machine-readable reason ({"detail": ..., "code": ...}), '' when there is none.
  function codeOf(body) {
    return body && typeof body.code === 'string' ? body.code : '';
  }

  // A ballot outcome that ends the attempt: 'fallback' (level 1), 'blocked' (no way to answer here),
  // 'retry' (the ballot request may have been answered but the answer was lost) or 'sent'.
  function outcome(mode, text) {
    return { ballotOutcome: mode, text: text || '' };
  }

  // Modes: 'pending' (obtaining), 'ready' (a ballot is here), 'retry' (trying again, with the same ballot
  // request), 'blocked' (cannot send from here), 'sent', 'fallback' (level 1). In 'ready', 'retry' and
  // 'blocked' the pages switch in the browser (hooks.pages()); a page change while 'pending' waits; only
  // 'fallback' ever submits the form to the server.
  function startBallot(form, store, model, officer, hooks) {
    var panel = document.getElementById('ballot');
    var B = window.VettedBallot;
    var mode = 'pending';
    var queued = false;
    var pager = null;
    if (!panel) return { settled: Promise.resolve(), mode: function () { return 'fallback'; } };
    var urls = { key: panel.dataset.keyUrl, issue: panel.dataset.issueUrl, submit: panel.dataset.submitUrl };
    var storeKey = BALLOT_PREFIX + form.getAttribute('data-edition') + ':' + (officer || '');
    var message = document.getElementById('ballot-message');
    var printed = document.getElementById('ballot-fingerprint');
    var sendStatus = document.getElementById('ballot-send-status');
    var csrf = form.querySelector('input[name="csrfmiddlewaretoken"]');
    var pem = null;
    var ballot = null;
    var sending = false;
    var retries = 0;
    var retryTimer = null;
    var sendWhenReady = false;

    function show(next, text) {
      mode = next;
      panel.setAttribute('data-mode', next);
      message.textContent = text;
    }

    function tellSending(text, failed) {
      if (!sendStatus) return;
      sendStatus.textContent = text;
      sendStatus.className = failed ? 'message error' : 'hint';
    }

    // Pages switch in the browser from now on; false if this page cannot (then it is level 1).
    function pagesInBrowser() {
      if (!pager) pager = hooks.pages();
      if (!pager) show('fallback', 'This page cannot move between its pages in the browser, ' + LEVEL_1);
      return Boolean(pager);
    }

    function allowSubmit(allowed) {
      if (pager) pager.allowSubmit(allowed);
    }

    function issue(fingerprint, pending) {
      var blinded = pending
        ? Promise.resolve(pending)
        : B.blind(pem).then(function (fresh) {
            // Kept before the request leaves, so that a lost response can be retried with the same message.
            var record = { fingerprint: fingerprint, token: fresh.token, blindedMsg: fresh.blindedMsg, inv: fresh.inv };
            if (!writeStored(store, storeKey, record)) {
              throw outcome('fallback', 'This browser cannot keep a ballot (its storage is full or refused), ');
            }
            return record;
          });
      return blinded.then(function (record) {
        return request(
          urls.issue,
          {
            method: 'POST',
            credentials: 'same-origin',
            cache: 'no-store',
            headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf ? csrf.value : '' },
            body: JSON.stringify({ blinded_msg: record.blindedMsg }),
          },
          ISSUE_TIMEOUT_MS
        ).then(
          function (response) {
            if ((response.status === 201 || response.status === 200) && response.body && response.body.blind_sig) {
              return B.finalize(pem, record.token, record.inv, response.body.blind_sig).then(
                function (signature) {
                  var kept = { fingerprint: fingerprint, token: record.token, signature: signature };
                  writeStored(store, storeKey, kept);
                  return kept;
                },
                function () {
                  store.removeItem(storeKey);
                  throw outcome(
                    'blocked',
                    'The server signed your ballot with a key other than the published one, so this browser ' +
                      'will not use it and cannot send your answers. Please tell the survey team.'
                  );
                }
              );
            }
            var code = codeOf(response.body);
            if (response.status === 409 && code === 'not_open') {
              throw outcome('blocked', 'This questionnaire is not open for answers' + detailOf(response.body) + '.');
            }
            if (response.status === 409) throw outcome('blocked', ALREADY_ISSUED);
            if (response.status === 502 || response.status === 503 || response.status === 504) {
              throw outcome('retry', 'The server could not answer this browser’s ballot request (error ' + response.status + '). ');
            }
            throw outcome('fallback', 'The server did not issue a ballot (error ' + response.status + detailOf(response.body) + '), ');
          },
          function () {
            // The request may have reached the server and been signed: only the same message may be sent again.
            throw outcome('retry', 'The answer to this browser’s ballot request did not arrive (no connection to the server). ');
          }
        );
      });
    }

    function obtain() {
      if (!B) return Promise.reject(outcome('fallback', 'The ballot code did not load in this browser, '));
      if (!B.supported()) return Promise.reject(outcome('fallback', 'This browser has no Web Cryptography, '));
      if (!store || !model) return Promise.reject(outcome('fallback', 'This browser cannot keep a ballot, '));
      var stored = readStored(store, storeKey);
      if (stored && stored.sent) return Promise.reject(outcome('sent'));
      // Public, and fetched without cookies: the server cannot pick a key for one officer.
      return request(urls.key, { credentials: 'omit', cache: 'no-store' }, KEY_TIMEOUT_MS)
        .then(null, function () {
          if (stored && (stored.blindedMsg || stored.signature)) {
            throw outcome('retry', 'The ballot key could not be fetched (no connection to the server). ');
          }
          throw outcome('fallback', 'The ballot key could not be fetched (no connection to the server), ');
        })
        .then(function (response) {
          var body = response.body;
          if (response.status !== 200 || !body || typeof body.public_key !== 'string') {
            throw outcome('fallback', 'This questionnaire has no ballot key (error ' + response.status + '), ');
          }
          pem = body.public_key;
          return B.fingerprint(pem).then(function (fingerprint) {
            if (fingerprint !== body.fingerprint) {
              throw outcome('fallback', 'The ballot key does not match its published fingerprint, ');
            }
            printed.querySelector('code').textContent = fingerprint;
            printed.hidden = false;
            if (stored && stored.signature && stored.fingerprint !== fingerprint) {
              // Kept, not replaced: a key that differs for one officer is how a server would tag them.
              throw outcome(
                'blocked',
                'The ballot key of this questionnaire is not the one your ballot in this browser was signed ' +
                  'with (' + stored.fingerprint + '), so your answers cannot be sent with it. Your ballot is ' +
                  'kept. Please tell the survey team.'
              );
            }
            if (!stored || stored.fingerprint !== fingerprint) return issue(fingerprint, null);
            if (!stored.signature) return issue(fingerprint, stored);
            return B.verifyBallot(pem, stored.token, stored.signature).then(function (valid) {
              return valid ? stored : issue(fingerprint, null);
            });
          });
        });
    }

    function sent(text) {
      clearTimeout(retryTimer);
      show('sent', text || 'You have sent your answers to this questionnaire from this browser. There is nothing more to do.');
      form.hidden = true;
      var note = document.getElementById('draft-note');
      if (note) note.hidden = true;
    }

    // Ask again for the ballot whose answer was lost: the same blinded message, which the server
    // answers with the same signature (no second ballot).
    var attempt = null;
    function retry() {
      clearTimeout(retryTimer);
      if (!attempt) {
        attempt = obtain()
          .then(settle, settle)
          .then(function () {
            attempt = null;
          });
      }
      return attempt;
    }

    function settle(result) {
      var wanted = sendWhenReady;
      sendWhenReady = false;
      if (result && result.ballotOutcome) {
        var kind = result.ballotOutcome;
        if (kind === 'sent') sent();
        else if (kind === 'retry') {
          show('retry', result.text + RETRYING);
          if (!pagesInBrowser()) return;
          retryTimer = setTimeout(retry, RETRY_SECONDS[Math.min(retries, RETRY_SECONDS.length - 1)] * 1000);
          retries += 1;
          if (wanted) tellSending('Your answers were not sent: your ballot has not arrived yet. They are still on this device; try again in a moment.', true);
        } else if (kind === 'blocked') {
          show('blocked', result.text);
          if (!pagesInBrowser()) return;
          allowSubmit(false);
          tellSending('Your answers cannot be sent from this browser: see the note at the top of the page.', true);
        } else if (pager) {
          // Pages already switch in this browser: going back to the server now would send the answers
          // with the session, so only a fresh page (the officer's choice) falls back to level 1.
          show('blocked', result.text + 'and this browser has no ballot. Reload this page to send your answers the standard way.');
          allowSubmit(false);
        } else show('fallback', result.text + LEVEL_1);
        return;
      }
      if (result instanceof Error || !result || !result.signature) {
        if (pager) {
          show('blocked', 'Getting a ballot failed in this browser. Reload this page to send your answers the standard way.');
          allowSubmit(false);
        } else show('fallback', 'Getting a ballot failed in this browser, ' + LEVEL_1);
        return;
      }
      ballot = result;
      retries = 0;
      show('ready', LEVEL_2);
      if (!pagesInBrowser()) return;
      allowSubmit(true);
      if (wanted) send();
    }

    show('pending', 'Getting a blind-signed ballot for your answers…');
    var ready = obtain().then(settle, settle);

    function receipt(code) {
      var template = document.getElementById('ballot-receipt');
      var main = document.getElementById('main');
      var content = template.content.cloneNode(true);
      content.querySelector('#receipt-code strong').textContent = code;
      main.replaceChildren(content);
      document.title = template.getAttribute('data-title');
      var heading = main.querySelector('h1');
      heading.tabIndex = -1;
      heading.focus();
    }

    function notSent(text) {
      tellSending('Your answers were not sent: ' + text + ' They are still on this device.', true);
    }

    function send() {
      if (sending) return;
      sending = true;
      allowSubmit(false);
      tellSending('Sending your answers with your ballot…', false);
      var body = JSON.stringify({ token: ballot.token, signature: ballot.signature, answers: hooks.answers() });
      request(
        urls.submit,
        {
          method: 'POST',
          credentials: 'omit',
          cache: 'no-store',
          headers: { 'Content-Type': 'application/json' },
          body: body,
        },
        SUBMIT_TIMEOUT_MS
      )
        .then(
          function (response) {
            var code = codeOf(response.body);
            if (response.status === 201 && response.body && response.body.receipt) {
              writeStored(store, storeKey, { sent: true }); // the ballot is spent: only the fact is kept
              hooks.clearDraft();
              receipt(response.body.receipt);
              return;
            }
            if (response.status === 400 && response.body && response.body.errors) {
              tellSending('Your answers were not sent: please correct the problems shown above.', true);
              showAnswerErrors(form, model, response.body.errors, pager.go);
              return;
            }
            if (response.status === 409 && code === 'ballot_spent') {
              // An earlier sending got through although its answer never reached this page.
              writeStored(store, storeKey, { sent: true });
              hooks.clearDraft();
              sent(
                'Your answers were already received: this ballot has been used to send them (an earlier try ' +
                  'got through, although its answer did not reach this page). Nothing more is needed. The draft ' +
                  'and the ballot on this device have been deleted.'
              );
              return;
            }
            if (response.status === 409 && code === 'not_open') {
              show('blocked', 'This questionnaire has closed, so your answers can no longer be sent. They are kept on this device.');
              notSent('the questionnaire has closed.');
              return;
            }
            if (response.status === 403 && code === 'ballot_invalid') {
              notSent('the server did not accept your ballot' + detailOf(response.body) + '. Please tell the survey team.');
              return;
            }
            notSent(
              response.body && typeof response.body.detail === 'string'
                ? response.body.detail
                : 'the server could not take them (error ' + response.status + ').'
            );
          },
          function () {
            // If the answers did arrive, the next try is told so (the ballot is then spent).
            notSent('no connection to the server. Try again.');
          }
        )
        .then(function () {
          sending = false;
          allowSubmit(mode === 'ready');
        });
    }

    function submit() {
      if (mode === 'blocked' || !pager.checkAll()) return;
      if (mode === 'ready') send();
      else if (mode === 'retry') {
        sendWhenReady = true;
        tellSending('Your ballot has not arrived yet: this browser is asking for it again…', false);
        retry();
      }
    }

    // Where the pages switch in the browser, every button of the form is handled here.
    function act(submitter) {
      var action = submitter && submitter.name === '_action' ? submitter.value : 'next';
      if (!pager || mode === 'sent') return;
      if (action === 'back') pager.back();
      else if (action === 'language') {
        var language = form.querySelector('select[name="_lang"]');
        if (language) pager.changeLanguage(language.value);
      } else if (action === 'submit') submit();
      else pager.next();
    }

    form.addEventListener('submit', function (event) {
      var submitter = event.submitter || null;
      if (mode === 'fallback') return; // level 1: the form goes to the server as it always did
      event.preventDefault();
      if (mode !== 'pending') {
        act(submitter);
        return;
      }
      // Wait for the ballot (its request must not be cut off by leaving the page), then go on.
      if (queued) return;
      queued = true;
      ready.then(function () {
        queued = false;
        if (mode !== 'fallback') act(submitter);
        else if (submitter && form.requestSubmit) form.requestSubmit(submitter);
        else form.submit();
      });
    });

    return {
      settled: ready,
      mode: function () {
        return mode;
      },
    };
  }

  // --- start -----------------------------------------------------------------------------------------

  function start() {
    var store = storage();
    document.querySelectorAll('[data-clear-draft]').forEach(function (marker) {
      if (store && clearDrafts(store, marker.getAttribute('data-clear-draft'), marker.getAttribute('data-officer'))) {
        marker.hidden = false;
      }
    });

    var form = document.getElementById('questionnaire');
    var E = window.SurveyExpressions;
    if (!form || !E) return;

    var model = null;
    var definitionNode = document.getElementById('survey-definition');
    if (definitionNode) {
      try {
        model = compileDefinition(JSON.parse(definitionNode.textContent), E);
      } catch (error) {
        model = null; // fall back to the data-relevant attributes of this page
      }
    }
    var edition = form.getAttribute('data-edition');
    var officer = form.getAttribute('data-officer');
    var key = draftPrefix(edition, officer) + form.getAttribute('data-definition');
    var status = document.getElementById('draft-status');
    var pageInput = form.querySelector('input[name="_page"]');
    var paused = false;
    var restoredPage = null; // until the officer moves on, a restored draft keeps its page
    var pager = null; // the pages switched in the browser, once there is (or will be) a ballot
    var ballot = null;

    function refresh() {
      var raw = readForm(form, model);
      var state = applySkipLogic(model || { items: [], byCode: {}, groups: {} }, raw, E);
      if (!model) state.values = raw;
      showRelevant(form, model, state, E);
      return { raw: raw, state: state };
    }

    function save(current) {
      if (!store || paused) return;
      var answers = answersToKeep(current.raw, model, current.state);
      try {
        if (!Object.keys(answers).length) store.removeItem(key);
        else {
          var page = restoredPage !== null ? restoredPage : pageInput ? Number(pageInput.value) : 0;
          store.setItem(key, JSON.stringify({ answers: answers, page: page }));
        }
      } catch (error) {
        // storage full or refused: the officer can still answer, just without a draft
      }
    }

    function changed() {
      var current = refresh();
      save(current);
      if (pager) pager.update(current.state);
      return current;
    }

    function say(message, buttons) {
      if (!status) return;
      status.replaceChildren();
      var text = document.createElement('p');
      text.textContent = message;
      status.appendChild(text);
      (buttons || []).forEach(function (spec) {
        var button = document.createElement('button');
        button.type = 'button';
        button.className = 'secondary';
        button.textContent = spec.label;
        button.id = spec.id;
        button.addEventListener('click', spec.action);
        status.appendChild(button);
      });
      status.classList.add('shown');
    }

    if (store) {
      if (store.getItem(key) === null) clearDrafts(store, edition, officer); // drafts of another version
      var draft = null;
      try {
        draft = JSON.parse(store.getItem(key) || 'null');
      } catch (error) {
        draft = null;
      }
      if (draft && draft.answers && Object.keys(draft.answers).length && isPristine(form)) {
        fillForm(form, draft.answers);
        restoredPage = Number(draft.page) || 0;
        var buttons = [];
        var next = form.querySelector('button[name="_action"][value="next"]');
        var currentPage = pageInput ? Number(pageInput.value) : 0;
        if (next && pageInput && draft.page > currentPage) {
          buttons.push({
            label: 'Continue where you stopped',
            id: 'draft-continue',
            action: function () {
              ballot.settled.then(function () {
                if (pager) {
                  pager.showNear(Number(draft.page));
                  return;
                }
                // Level 1: "Next" from the page before the one the officer was on lands there (skipped
                // pages in between have no questions to check).
                pageInput.value = String(draft.page - 1);
                if (form.requestSubmit) form.requestSubmit(next);
                else next.click();
              });
            },
          });
        }
        buttons.push({
          label: 'Discard draft',
          id: 'draft-discard',
          action: function () {
            paused = true;
            store.removeItem(key);
            restoredPage = null;
            emptyForm(form);
            changed();
            paused = false;
            say('Draft discarded. Nothing is kept on this device until you answer again.');
          },
        });
        say('Draft restored from this device: your earlier answers are filled in.', buttons);
      }
    }

    changed();

    form.addEventListener('input', changed);
    form.addEventListener('change', changed);

    form.querySelectorAll('select[data-searchable]').forEach(function (select) {
      makeSearchable(select, changed);
    });

    var summary = document.getElementById('error-summary');
    if (summary) {
      summary.focus();
      summary.addEventListener('click', function (event) {
        var link = event.target.closest('a[href^="#"]');
        if (!link) return;
        var target = document.getElementById(decodeURIComponent(link.getAttribute('href').slice(1)));
        var control =
          target && target.querySelector('input:not([type=hidden]):not([disabled]):not([data-portal-ui]), select, textarea');
        if (!control) return;
        event.preventDefault();
        target.scrollIntoView({ block: 'center' });
        control.focus();
      });
    }

    ballot = startBallot(form, store, model, officer, {
      answers: function () {
        var current = refresh();
        return answersToKeep(current.raw, model, current.state);
      },
      clearDraft: function () {
        paused = true; // nothing is saved again from this page
        if (store) clearDrafts(store, edition, officer);
      },
      pages: function () {
        pager = startPager(form, model, E, {
          refresh: refresh,
          changed: changed,
          searchable: function (select) {
            makeSearchable(select, changed);
          },
          moved: function () {
            restoredPage = null; // the officer moves on: the draft follows the page shown
            var resume = document.getElementById('draft-continue');
            if (resume) resume.remove();
          },
        });
        var asked = pageFromFragment();
        if (pager && asked !== null) pager.showNear(asked);
        return pager;
      },
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
