/*! chatdock website widget: plain JavaScript, no build step, no dependencies (docs/widget.md).
 * <script src="https://HOST/widget/v1/chatdock.js" data-key="pk_live_…" async></script>
 * Server and visitor data only ever reach the page through textContent / text nodes. */
(function () {
  'use strict';
  var W = window, D = document;
  if (W.Chatdock && W.Chatdock.open) return; // the snippet twice on one page

  var script = D.currentScript || D.querySelector('script[src*="/widget/v1/"][data-key]');
  var opt = (script && script.dataset) || {};
  var KEY = opt.key || '';
  var BASE = script ? new URL(script.src, location.href).origin : location.origin;
  var CSS = "__CHATDOCK_CSS__"; // chatdock.css, inlined by the server (one request)
  var ICON = 'M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z';
  var CLIP = 'M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5H9v9a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v11.5a6 6 0 0 0 12 0v-10z';

  // ---- strings: English by default; data-locale picks a table, data-strings overrides keys
  var STRINGS = {
    en: {open: 'Open chat', close: 'Close chat', chat: 'Chat with {name}', title: 'Chat',
      online: 'Online', away: 'Away. We will reply as soon as we can', log: 'Messages',
      placeholder: 'Write a message…', send: 'Send', typing: 'Agent is typing…',
      unread: '{n} unread', intro: 'Before we start, please tell us who you are.',
      name: 'Name', email: 'Email', start: 'Start chat', retry: 'Not sent. Retry',
      reconnecting: 'Reconnecting…', origin: 'This chat is not enabled for this website.',
      key: 'This chat is not set up correctly.', error: 'The chat is unavailable right now.',
      rate: 'How did we do?', star: '{n} of 5', comment: 'Comment (optional)', rated: 'Send rating',
      thanks: 'Thank you for your rating!',
      attach: 'Attach a file', uploading: 'Uploading {name}…', tooBig: '{name} is too large (at most {kb} KB).',
      file: 'File',
      closed: 'We\u2019re away', back: 'We\u2019re away \u2014 back at {time}',
      ask: 'Leave your email and we will reply there.', keep: 'Save', saved: 'Thanks! We will reply to {email}.'},
    fr: {open: 'Ouvrir le chat', close: 'Fermer le chat', chat: 'Discuter avec {name}',
      online: 'En ligne', away: 'Absent. Nous répondrons dès que possible',
      placeholder: 'Écrivez un message…', send: 'Envoyer', typing: 'Un agent écrit…',
      unread: '{n} non lus', intro: 'Avant de commencer, dites-nous qui vous êtes.',
      name: 'Nom', email: 'E-mail', start: 'Commencer', retry: 'Non envoyé. Réessayer',
      reconnecting: 'Reconnexion…', attach: 'Joindre un fichier', uploading: 'Envoi de {name}…',
      tooBig: '{name} est trop volumineux ({kb} Ko au plus).', file: 'Fichier',
      closed: 'Nous sommes absents',
      back: 'Nous sommes absents \u2014 de retour {time}', ask: 'Laissez votre e-mail, nous vous répondrons.',
      keep: 'Enregistrer', saved: 'Merci ! Nous répondrons à {email}.'},
    de: {open: 'Chat öffnen', close: 'Chat schließen', chat: 'Chat mit {name}',
      online: 'Online', away: 'Abwesend. Wir antworten so bald wie möglich',
      placeholder: 'Nachricht schreiben…', send: 'Senden', typing: 'Ein Agent schreibt…',
      unread: '{n} ungelesen', intro: 'Bevor es losgeht: Wer sind Sie?',
      name: 'Name', email: 'E-Mail', start: 'Chat starten', retry: 'Nicht gesendet. Erneut',
      reconnecting: 'Verbinde neu…', attach: 'Datei anhängen', uploading: '{name} wird hochgeladen…',
      tooBig: '{name} ist zu groß (höchstens {kb} KB).', file: 'Datei',
      closed: 'Wir sind nicht da',
      back: 'Wir sind nicht da \u2014 zurück {time}', ask: 'Hinterlassen Sie Ihre E-Mail, wir antworten dorthin.',
      keep: 'Speichern', saved: 'Danke! Wir antworten an {email}.'}
  };
  var LANG = (opt.locale || 'en').toLowerCase();
  var S = assign({}, STRINGS.en, STRINGS[LANG] || STRINGS[LANG.split('-')[0]], parse(opt.strings));
  function t(k, vars) {
    return String(S[k]).replace(/\{(\w+)\}/g, function (_, v) { return vars[v]; });
  }

  function assign(o) {
    for (var i = 1; i < arguments.length; i++) for (var k in arguments[i]) o[k] = arguments[i][k];
    return o;
  }
  function parse(s) { try { return JSON.parse(s); } catch (e) { return null; } }
  function noop() {}
  function uid(p) {
    var a = crypto.getRandomValues(new Uint8Array(16)), s = p;
    for (var i = 0; i < 16; i++) s += (a[i] + 256).toString(16).slice(1);
    return s;
  }

  // ---- state kept per key in localStorage: visitor id, session, last message read
  var SK = 'chatdock:' + KEY.slice(0, 20);
  var st = parse(storage('get')) || {};
  if (opt.visitorId && opt.visitorId !== st.v) st = {v: opt.visitorId};
  st.v = st.v || uid('v_');
  function storage(op, value) {
    try { return op === 'get' ? localStorage.getItem(SK) : localStorage.setItem(SK, value); } catch (e) { return null; }
  }
  function save() { storage('set', JSON.stringify(st)); }
  function shut(v) { // sessionStorage: the visitor closed the panel in this tab ('1') or not ('')
    try { return v == null ? sessionStorage.getItem(SK + ':shut') : sessionStorage.setItem(SK + ':shut', v); } catch (e) { return null; }
  }

  var contact = {};
  if (opt.name) contact.name = opt.name;
  if (opt.email) contact.email = opt.email;
  // identity verification: made by the site's server for data-visitor-id; kept in memory only
  var proof = opt.identityHash ? {identity_hash: opt.identityHash, identity_ts: opt.identityTs} : {};
  if (opt.identityHash && !st.vf) st.t = null; // an unverified token: start again, verified

  // ---- HTTP: the visitor API on the script's own origin
  function api(method, url, body, headers) {
    var h = assign({Authorization: 'Bearer ' + KEY}, headers);
    if (st.t) h['X-Tickki-Session'] = st.t;
    if (body && !(body instanceof URLSearchParams) && !(body instanceof FormData)) {
      h['Content-Type'] = 'application/json';
      body = JSON.stringify(body);
    }
    url = /^https?:/.test(url) ? url : BASE + '/api/v1/chat' + url;
    return fetch(url, {method: method, headers: h, body: body, credentials: 'omit'}).then(function (res) {
      return res.json().catch(noop).then(function (j) {
        if (res.ok) return j;
        j = j || {};
        var e = new Error(j.message || 'HTTP ' + res.status);
        e.status = res.status;
        e.code = j.error || 'http_' + res.status;
        e.field = j.field;
        e.retry = +res.headers.get('Retry-After') || 0;
        throw e;
      });
    });
  }

  var starting;
  function session(fields) { // start or resume this visitor's conversation
    if (st.t) return Promise.resolve();
    return starting || (starting = api('POST', '/sessions',
      assign({visitor_id: st.v}, contact, proof, fields)).then(function (r) {
      var s = r.data;
      if (st.c && st.c !== s.conversation_id) reset();
      assign(st, {t: s.session_token, c: s.conversation_id, rt: s.realtime, vf: s.verified});
      if (st.r == null) st.r = maxId();
      save();
      starting = null;
      showForm();
      live();
    }, function (e) { starting = null; throw e; }));
  }

  function sapi(method, path, body, headers, again) { // a call on the session's conversation
    return session().then(function () {
      return api(method, '/sessions/' + st.c + path, body, headers);
    }).catch(function (e) {
      if (e.code !== 'invalid_session' || again) throw e;
      st.t = null; // revoked or idle: resume with the same visitor id (a new token)
      return sapi(method, path, body, headers, true);
    });
  }

  // ---- the DOM, built with createElement + text nodes only
  function icon(d) {
    var svg = D.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.appendChild(D.createElementNS(svg.namespaceURI, 'path')).setAttribute('d', d);
    return svg;
  }
  function h(tag, props, kids) {
    var e = D.createElement(tag);
    for (var k in props) {
      var v = props[k];
      if (k === 'class') e.className = v;
      else if (k.slice(0, 2) === 'on') e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    (kids || []).forEach(function (c) { e.appendChild(typeof c === 'string' ? D.createTextNode(c) : c); });
    return e;
  }

  var host, root, ui = {}, isOpen = false, fatal = null, cfg = {}, requireId = false, agents;
  function mount() {
    host = h('div', {id: 'chatdock-widget'});
    root = host.attachShadow({mode: 'open'});
    if ('adoptedStyleSheets' in root && 'replaceSync' in CSSStyleSheet.prototype) {
      var sheet = new CSSStyleSheet(); // not an inline <style>: works under a strict page CSP
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } else {
      root.appendChild(h('style', {}, [CSS]));
    }

    ui.avatar = h('div', {class: 'avatar', 'aria-hidden': 'true'});
    ui.title = h('div', {class: 'title'}, [t('title')]);
    ui.status = h('div', {class: 'status'});
    ui.note = h('div', {class: 'note', role: 'status', hidden: ''});
    ui.welcome = h('div', {class: 'msg out welcome', hidden: ''});
    ui.log = h('div', {class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': t('log'),
      tabindex: '0', onscroll: function () { if (ui.log.scrollTop < 40) loadOlder(); }}, [ui.welcome]);
    ui.typing = h('div', {class: 'typing', 'aria-live': 'polite'});
    ui.input = h('textarea', {rows: '1', placeholder: t('placeholder'), 'aria-label': t('placeholder'),
      oninput: typed, onkeydown: function (e) {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
      }});
    ui.file = h('input', {type: 'file', hidden: '', tabindex: '-1', 'aria-hidden': 'true', onchange: function () {
      var f = ui.file.files[0];
      ui.file.value = ''; // the same file again is a new choice
      if (f) upload(f);
    }});
    ui.attach = h('button', {class: 'attach', type: 'button', 'aria-label': t('attach'), title: t('attach'),
      hidden: '', onclick: function () { ui.file.click(); }}, [icon(CLIP)]);
    ui.composer = h('form', {class: 'composer', onsubmit: function (e) { e.preventDefault(); submit(); }},
      [ui.attach, ui.file, ui.input, h('button', {class: 'send', type: 'submit'}, [t('send')])]);
    ui.fname = h('input', {name: 'name', autocomplete: 'name', 'aria-label': t('name'), placeholder: t('name')});
    ui.femail = h('input', {name: 'email', type: 'email', autocomplete: 'email', required: '',
      'aria-label': t('email'), placeholder: t('email')});
    ui.ferr = h('div', {class: 'ferr', role: 'alert'});
    ui.pre = h('form', {class: 'pre', hidden: '', onsubmit: prechat},
      [h('p', {}, [t('intro')]), ui.fname, ui.femail, ui.ferr, h('button', {class: 'start', type: 'submit'}, [t('start')])]);
    ui.err = h('div', {class: 'err', role: 'alert', hidden: ''});
    awayBanner();
    ui.panel = h('div', {class: 'panel', id: 'cd-panel', role: 'dialog', 'aria-label': t('title'), hidden: ''}, [
      h('div', {class: 'head'}, [ui.avatar, h('div', {class: 'meta'}, [ui.title, ui.status]),
        ui.close = h('button', {class: 'close', type: 'button', 'aria-label': t('close'), onclick: close}, ['×'])]),
      ui.note, ui.err, ui.log, ui.typing, ui.away, ui.pre, ui.composer]);
    ['dragenter', 'dragover'].forEach(function (n) { ui.panel.addEventListener(n, dragged); });
    ui.panel.addEventListener('dragleave', function (e) {
      if (!ui.panel.contains(e.relatedTarget)) ui.panel.classList.remove('dropping');
    });
    ui.panel.addEventListener('drop', dropped);
    ui.badge = h('span', {class: 'badge', 'aria-hidden': 'true', hidden: ''});
    ui.launcher = h('button', {class: 'launcher', type: 'button', 'aria-label': t('open'),
      'aria-expanded': 'false', 'aria-controls': 'cd-panel', onclick: function () { isOpen ? close() : open(); }},
      [icon(ICON), ui.badge]);
    ui.wrap = h('div', {class: 'cd', lang: LANG}, [ui.panel, ui.launcher]);
    root.appendChild(ui.wrap);
    root.addEventListener('keydown', function (e) { if (e.key === 'Escape' && isOpen) close(); });
    D.body.appendChild(host);
    avatar();
    W.dispatchEvent(new CustomEvent('chatdock:ready'));
    emit('ready');
    boot(0);
    // data-open: start open, without taking focus; not again in this tab once the visitor closed it
    if (opt.open != null && !/^(false|0|no)$/i.test(opt.open) && !shut()) open(true);
  }

  function boot(n) { // /chat/config: branding, presence, identification; retried unless refused
    if (!KEY) return fail({code: 'missing_api_key', message: 'data-key is missing on the script tag.'});
    api('GET', '/config').then(function (r) {
      paint(r.data);
      if (st.t) live();
    }, function (e) {
      if ((e.status && e.status < 500 && e.status !== 429) || n > 5) return fail(e);
      setTimeout(boot, e.retry * 1000 || 1000 * Math.pow(2, n), n + 1);
    });
  }

  function paint(c) { // /chat/config data or a BrandingUpdated payload
    var b = c.branding || {}, biz = c.business;
    cfg.branding = assign(cfg.branding || {}, b);
    if (biz) cfg.business = biz;
    if (b.primary_color) {
      host.style.setProperty('--cd-primary', b.primary_color);
      host.style.setProperty('--cd-on-primary', light(b.primary_color) ? '#111827' : '#fff');
    }
    if (b.accent_color) host.style.setProperty('--cd-accent', b.accent_color);
    if (biz) {
      ui.title.textContent = biz.name;
      ui.panel.setAttribute('aria-label', t('chat', {name: biz.name}));
    }
    if ('logo_url' in b || biz) avatar();
    if ('welcome_message' in b) {
      ui.welcome.textContent = b.welcome_message || '';
      welcome();
    }
    if (c.presence) { // also a PresenceUpdated payload, wrapped
      var n = c.presence.agents_online, on = n > 0;
      ui.status.textContent = t(on ? 'online' : 'away');
      ui.status.className = 'status' + (on ? ' on' : '');
      if (n !== agents) emit('presence', agents = n);
    }
    if (c.identification) requireId = c.identification.required_on_start;
    if (c.limits) {
      ui.input.maxLength = c.limits.message_max_length;
      cfg.maxKb = c.limits.max_upload_kb;
    }
    if (c.features) ui.attach.hidden = !(cfg.uploads = c.features.file_uploads === true);
    if (c.availability) away(c.availability);
    showForm();
  }
  function light(hex) {
    var n = parseInt(hex.slice(1), 16);
    return ((n >> 16) * 299 + (n >> 8 & 255) * 587 + (n & 255) * 114) / 1000 > 160;
  }
  function avatar() {
    var b = cfg.branding || {}, name = (cfg.business || {}).name || '';
    ui.avatar.textContent = name.charAt(0).toUpperCase();
    if (b.logo_url) {
      var img = h('img', {alt: '', src: b.logo_url, onerror: function () { img.remove(); ui.avatar.textContent = name.charAt(0).toUpperCase(); }});
      ui.avatar.textContent = '';
      ui.avatar.appendChild(img);
    }
  }
  function welcome() { ui.welcome.hidden = !ui.welcome.textContent || !!older; }

  function fail(e) { // a refusal the visitor cannot fix: say so instead of hanging
    var had = hasFocus();
    fatal = e;
    var text = e.code === 'origin_not_allowed' ? t('origin') :
      (e.status === 401 || e.code === 'missing_api_key' || e.code === 'business_suspended') ? t('key') : t('error');
    ui.err.textContent = '';
    ui.err.appendChild(D.createTextNode(text));
    ui.err.appendChild(h('small', {}, [e.code || '']));
    ui.err.hidden = false;
    ui.log.hidden = ui.composer.hidden = ui.pre.hidden = ui.away.hidden = true;
    ui.typing.hidden = true;
    if (had) focusIn();
    if (W.console) console.warn('chatdock: ' + e.code + ': ' + e.message);
    emit('error', {code: e.code, message: e.message});
  }

  function showForm() {
    if (fatal) return;
    var need = requireId && !st.t && !contact.name && !contact.email, flip = ui.pre.hidden === need;
    ui.pre.hidden = !need;
    ui.composer.hidden = need;
    if (flip && hasFocus()) focusIn(); // what had focus was just hidden
  }
  function hasFocus() { return isOpen && ui.panel.contains(root.activeElement); }
  function focusIn() { // the first thing to use: the form, the composer, or (refused) close
    (fatal ? ui.close : ui.pre.hidden ? ui.input : ui.fname.value ? ui.femail : ui.fname).focus();
  }
  function prechat(e) {
    e.preventDefault();
    var f = {name: ui.fname.value.trim(), email: ui.femail.value.trim()};
    if (!f.name) delete f.name;
    assign(contact, f);
    ui.ferr.textContent = '';
    session(f).then(function () { ui.input.focus(); }, function (err) { ui.ferr.textContent = err.message; });
  }

  // ---- availability: outside business hours a banner says when we are back; the composer
  // still works, and a visitor we cannot reach yet is asked for an email (identify)
  var awayAt = 0, awayTimer;
  function awayBanner() {
    ui.awayTitle = h('div', {class: 'away-title'});
    ui.awayText = h('div', {class: 'away-text', hidden: ''});
    ui.awayEmail = h('input', {name: 'away-email', type: 'email', autocomplete: 'email', required: '',
      'aria-label': t('email'), placeholder: t('email')});
    ui.awayErr = h('div', {class: 'ferr', role: 'alert'});
    ui.awayForm = h('form', {class: 'away-ask', hidden: '', onsubmit: leaveEmail},
      [h('p', {}, [t('ask')]), h('div', {class: 'away-row'}, [ui.awayEmail,
        h('button', {class: 'start', type: 'submit'}, [t('keep')])]), ui.awayErr]);
    ui.away = h('div', {class: 'away', role: 'status', hidden: ''}, [ui.awayTitle, ui.awayText, ui.awayForm]);
  }
  function refresh() { api('GET', '/config').then(function (r) { paint(r.data); }, noop); }
  function away(a) { // /chat/config's availability {open, next_open_at, offline_message}
    var was = cfg.availability;
    cfg.availability = a;
    awayAt = Date.now();
    clearTimeout(awayTimer);
    if (!a.open && a.next_open_at) { // re-read at opening time (setTimeout's cap: ~24.8 days)
      awayTimer = setTimeout(refresh, Math.min(Math.max(new Date(a.next_open_at) - Date.now(), 0) + 1000, 2147483000));
    }
    ui.awayTitle.textContent = a.next_open_at ? t('back', {time: when(a.next_open_at)}) : t('closed');
    ui.awayText.textContent = a.offline_message || '';
    ui.awayText.hidden = !a.offline_message;
    ui.awayForm.hidden = !!(contact.email || st.em);
    ui.away.hidden = a.open || !!fatal;
    if (!was || was.open !== a.open) emit('availability', a);
  }
  function when(iso) { // the visitor's own local time; the weekday too unless it is today
    var d = new Date(iso), today = d.toDateString() === new Date().toDateString();
    return d.toLocaleString(LANG, today ? {hour: 'numeric', minute: '2-digit'} :
      {weekday: 'short', hour: 'numeric', minute: '2-digit'});
  }
  function leaveEmail(e) {
    e.preventDefault();
    var email = ui.awayEmail.value.trim();
    ui.awayErr.textContent = '';
    identify({email: email}).then(function () {
      st.em = 1; // asked once: not again on this device
      if (st.t) save();
      ui.awayForm.hidden = true;
      ui.awayText.hidden = false;
      ui.awayText.textContent = t('saved', {email: email});
      ui.input.focus();
    }, function (err) { ui.awayErr.textContent = err.message; });
  }

  // ---- open / close / unread
  var unread = 0;
  function open(auto) {
    if (isOpen) return;
    isOpen = true;
    shut('');
    ui.panel.hidden = false;
    ui.wrap.classList.add('open');
    ui.launcher.setAttribute('aria-expanded', 'true');
    read();
    if (!fatal) {
      if ((!subscribed || Date.now() - awayAt > 60000) && cfg.business) refresh();
      if (!st.t && opt.visitorId) session().catch(noop);
      heartbeat();
    }
    bottom();
    if (auto !== true) focusIn();
    emit('open');
  }
  function close() {
    if (!isOpen) return;
    isOpen = false;
    shut('1');
    ui.panel.hidden = true;
    ui.wrap.classList.remove('open');
    ui.launcher.setAttribute('aria-expanded', 'false');
    ui.launcher.focus();
    emit('close');
  }
  function read() {
    st.r = Math.max(st.r || 0, maxId());
    if (st.t) save();
    setUnread(0);
  }
  function setUnread(n) {
    if (n === unread) return;
    unread = n;
    ui.badge.textContent = n > 9 ? '9+' : String(n);
    ui.badge.hidden = !n;
    ui.launcher.setAttribute('aria-label', t('open') + (n ? ', ' + t('unread', {n: n}) : ''));
    emit('unread', n);
  }
  setInterval(heartbeat, 60000);
  D.addEventListener('visibilitychange', function () { if (isOpen && !D.hidden) read(); });
  function heartbeat() { // "visitor online" for the agents, while the panel is open
    if (isOpen && st.t && !D.hidden) sapi('POST', '/heartbeat').catch(noop);
  }

  // ---- messages: one element per id, kept in id order; pending sends have no id yet
  var ids = {}, older = null, loaded = false;
  function maxId() {
    var m = 0;
    for (var id in ids) m = Math.max(m, +id);
    return m;
  }
  function bubble(m) {
    var e = h('div', {class: 'msg ' + (m.direction === 'inbound' ? 'in' : 'out')}, m.content ? [m.content] : []);
    (m.attachments || []).forEach(function (a) { e.appendChild(attachment(a)); });
    if (m.created_at) e.title = new Date(m.created_at).toLocaleString(LANG);
    return e;
  }
  function attachment(a) { // an image inline, any other file as a download link; http(s) URLs only
    var url = /^https?:\/\//i.test(a.signed_url || '') ? a.signed_url : null, name = a.file_name || t('file');
    if (url && /^image\//.test(a.mime_type || '')) {
      return h('img', {class: 'att att-img', src: url, alt: name, onload: function () { if (nearBottom(240)) bottom(); }});
    }
    return url ? h('a', {class: 'att att-file', href: url, download: name, target: '_blank', rel: 'noopener'}, [name])
      : h('span', {class: 'att att-file'}, [name]);
  }
  function place(e, id) {
    var n = ui.log.lastChild;
    while (n && !(n.cdId < id) && n !== ui.welcome) n = n.previousSibling;
    e.cdId = id;
    ids[id] = e;
    ui.log.insertBefore(e, n ? n.nextSibling : ui.log.firstChild);
  }
  function add(m, quiet) { // a ChatMessage from the socket or from history; once per id
    if (ids[m.id]) return;
    var stick = nearBottom();
    place(bubble(m), m.id);
    if (stick) bottom();
    if (quiet) return;
    emit('message', m);
    if (m.direction === 'outbound') {
      typing(false);
      if (isOpen && !D.hidden) read(); else setUnread(unread + 1);
    }
  }
  function reset() {
    for (var id in ids) ids[id].remove();
    ids = {};
    older = null;
  }
  function nearBottom(slack) { return ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < (slack || 80); }
  function bottom() { ui.log.scrollTop = ui.log.scrollHeight; }

  function submit() {
    var text = ui.input.value;
    if (!text.trim() || fatal) return;
    rating(false); // writing again reopens the conversation
    ui.input.value = '';
    grow();
    var e = bubble({direction: 'inbound', content: text});
    ui.log.appendChild(e);
    bottom();
    post(text, e, uid('m_'));
  }
  var outbox = Promise.resolve();
  function queue(path, body, idem) { // the visitor's sends go one at a time: stored in the order sent
    var p = outbox.then(function () { return sapi('POST', path, body, {'Idempotency-Key': idem}); });
    outbox = p.catch(noop);
    return p;
  }
  function post(text, e, idem) { // Idempotency-Key: a retry never stores the message twice
    e.className = 'msg in pending';
    var retry = e.querySelector('.retry');
    if (retry) retry.remove();
    queue('/messages', {content: text}, idem).then(function (r) {
      var m = r.data;
      e.className = 'msg in';
      if (ids[m.id]) return e.remove(); // the socket's echo came first
      e.remove();
      place(e, m.id);
      emit('message', m);
    }, function (err) {
      if (err.code === 'validation_error' && err.field === 'email') { // identification first
        e.remove();
        ui.input.value = text;
        requireId = true;
        showForm();
        return ui.fname.focus();
      }
      e.className = 'msg in failed';
      e.appendChild(h('button', {class: 'retry', type: 'button', onclick: function () { post(text, e, idem); }},
        [t('retry')]));
    });
  }

  // ---- attachments: the paperclip's file input, or a file dropped on the panel
  function canUpload() { return cfg.uploads && !fatal && !ui.composer.hidden; }
  function dragged(e) {
    if (!canUpload() || !e.dataTransfer || [].indexOf.call(e.dataTransfer.types, 'Files') < 0) return;
    e.preventDefault(); // accept the drop (the browser would otherwise open the file)
    e.dataTransfer.dropEffect = 'copy';
    ui.panel.classList.add('dropping');
  }
  function dropped(e) {
    ui.panel.classList.remove('dropping');
    var f = e.dataTransfer && e.dataTransfer.files[0];
    if (!f || !canUpload()) return;
    e.preventDefault();
    upload(f);
  }
  function upload(f) { // a pending bubble, then the stored message
    var e = h('div', {class: 'msg in pending upload'});
    ui.log.appendChild(e);
    bottom();
    if (cfg.maxKb && f.size > cfg.maxKb * 1024) return failed(e, t('tooBig', {name: f.name, kb: cfg.maxKb}));
    sendFile(f, e, uid('a_'));
  }
  function sendFile(f, e, idem) { // fetch reports no upload progress: an indeterminate bar
    e.className = 'msg in pending upload';
    e.textContent = '';
    e.appendChild(D.createTextNode(t('uploading', {name: f.name})));
    e.appendChild(h('progress', {'aria-label': t('uploading', {name: f.name})}));
    var body = new FormData();
    body.append('file', f, f.name);
    queue('/attachments', body, idem).then(function (r) {
      var m = r.data.message;
      e.remove();
      if (ids[m.id]) return; // the socket's echo came first
      place(bubble(m), m.id);
      bottom();
      emit('message', m);
    }, function (err) { // 413 / 415 and the like: the server's own words; a retry only helps the rest
      var again = !err.status || err.status >= 500 || err.status === 429;
      failed(e, err.message, again && function () { sendFile(f, e, idem); });
    });
  }
  function failed(e, text, retry) {
    e.className = 'msg in failed upload';
    e.textContent = '';
    e.appendChild(h('span', {role: 'alert'}, [text]));
    if (retry) e.appendChild(h('button', {class: 'retry', type: 'button', onclick: retry}, [t('retry')]));
  }

  var syncing = false, again = false;
  function sync() { // first call: the history; later: catch up after a reconnect
    if (syncing) return (again = true);
    syncing = true;
    var first = !loaded;
    sapi('GET', '/messages?limit=' + (first ? 30 : 100)).then(function (r) {
      var page = r.data, known = page.some(function (m) { return ids[m.id]; });
      if (!first && !known && r.meta.next_cursor) reset(); // a long gap: start over from here
      if (first || !known) older = r.meta.next_cursor;
      page.reverse().forEach(function (m) { add(m, first); });
      if (first) {
        loaded = true;
        var n = page.filter(function (m) { return m.direction === 'outbound' && m.id > (st.r || 0); }).length;
        if (isOpen) read(); else setUnread(n);
        bottom();
        sapi('GET', '/rating').then(function (r) { rating(r.data.pending); }, noop);
      }
      welcome();
    }).catch(noop).then(function () {
      syncing = false;
      if (again) { again = false; sync(); }
    });
  }
  var loadingOlder = false;
  function loadOlder() {
    if (!older || loadingOlder) return;
    loadingOlder = true;
    var height = ui.log.scrollHeight;
    sapi('GET', '/messages?limit=30&cursor=' + encodeURIComponent(older)).then(function (r) {
      r.data.forEach(function (m) { add(m, true); });
      older = r.meta.next_cursor;
      welcome();
      ui.log.scrollTop += ui.log.scrollHeight - height;
    }).catch(noop).then(function () { loadingOlder = false; });
  }

  // ---- typing, both ways
  var typedAt = 0, typingTimer;
  function typed() {
    grow();
    if (st.t && ui.input.value && Date.now() - typedAt > 3000) {
      typedAt = Date.now();
      sapi('POST', '/typing').catch(noop);
    }
  }
  function typing(on) {
    clearTimeout(typingTimer);
    ui.typing.textContent = on ? t('typing') : '';
    if (on) typingTimer = setTimeout(typing, 6000, false);
  }
  function grow() {
    ui.input.style.height = 'auto';
    ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 120) + 'px';
  }

  // ---- rating (CSAT): a 1-5 card once the conversation is resolved, sent once
  function rating(ask) {
    if (ui.rate) ui.rate.remove();
    ui.rate = null;
    if (!ask || fatal) return;
    var score = 0, idem = uid('r_'), stars = [], go, err = h('div', {class: 'ferr', role: 'alert'}),
      note = h('textarea', {rows: '2', maxlength: '1000', 'aria-label': t('comment'), placeholder: t('comment')});
    function pick(n) {
      score = n;
      go.disabled = false;
      stars.forEach(function (b, i) { b.setAttribute('aria-pressed', String(i < n)); });
    }
    for (var i = 1; i < 6; i++) {
      stars.push(h('button', {type: 'button', 'aria-label': t('star', {n: i}), 'aria-pressed': 'false',
        onclick: pick.bind(null, i)}, ['\u2605']));
    }
    var card = ui.rate = h('form', {class: 'rate', onsubmit: function (e) {
      e.preventDefault();
      go.disabled = true;
      err.textContent = '';
      sapi('POST', '/rating', {score: score, comment: note.value.trim() || null}, {'Idempotency-Key': idem})
        .then(function () {
          card.textContent = '';
          card.appendChild(h('p', {role: 'status'}, [t('thanks')]));
          emit('rating', score);
        }, function (x) { err.textContent = x.message; go.disabled = false; });
    }}, [h('p', {}, [t('rate')]), h('div', {class: 'stars'}, stars), note, err,
      go = h('button', {class: 'start', type: 'submit', disabled: ''}, [t('rated')])]);
    ui.panel.insertBefore(card, ui.pre);
  }

  // ---- realtime: the Pusher protocol 7 subset a private channel needs
  var ws = null, subscribed = false, tries = 0, timer, beat, activity = 120000, dead = false;
  function live() { // connect, then read history once subscribed (no gap between the two)
    connect();
    setTimeout(function () { if (!loaded) sync(); }, 3000); // no socket? still show history
  }
  function connect() {
    clearTimeout(timer);
    if (ws || dead || !st.t) return;
    var rt = st.rt;
    try {
      ws = new WebSocket((rt.scheme === 'https' ? 'wss://' : 'ws://') + rt.host + ':' + rt.port +
        '/app/' + rt.key + '?protocol=7&client=chatdock-widget&version=1');
    } catch (e) { ws = null; return later(); }
    ws.onmessage = frame;
    ws.onclose = function (e) {
      hangup(e.code >= 4000 && e.code < 4100 ? -1 : e.code >= 4200 && e.code < 4300 ? 0 : null);
    };
  }
  function hangup(delay) { // forget the socket; reconnect after delay (null: backoff, -1: never)
    var old = ws;
    ws = null;
    subscribed = false;
    clearTimeout(beat);
    if (old) {
      old.onclose = old.onmessage = null;
      if (old.readyState < 2) old.close();
    }
    if (delay === -1) return (dead = true); // the server said never (4000-4099)
    if (loaded) note(t('reconnecting'));
    later(delay);
  }
  function later(delay) { // capped exponential backoff with jitter
    clearTimeout(timer);
    if (delay == null) delay = Math.min(30000, 1000 * Math.pow(2, tries++)) * (0.5 + Math.random() / 2);
    timer = setTimeout(connect, delay);
  }
  function note(text) { ui.note.textContent = text; ui.note.hidden = !text; }
  function send(event, data) { if (ws && ws.readyState === 1) ws.send(JSON.stringify({event: event, data: data})); }
  function alive() { // any frame proves the link; silence: ping, then give up after 30 s
    clearTimeout(beat);
    beat = setTimeout(function () {
      send('pusher:ping', {});
      beat = setTimeout(hangup, 30000, null);
    }, activity);
  }
  function frame(e) {
    alive();
    var f = parse(e.data) || {}, data = f.data;
    if (typeof data === 'string') data = parse(data) || data;
    var rt = st.rt;
    switch (f.event) {
      case 'pusher:connection_established':
        activity = Math.min(data.activity_timeout || 120, 120) * 1000;
        alive();
        api('POST', rt.auth_endpoint, new URLSearchParams({socket_id: data.socket_id, channel_name: rt.channel}))
          .then(function (a) { send('pusher:subscribe', {channel: rt.channel, auth: a.auth}); }, authFailed);
        break;
      case 'pusher_internal:subscription_succeeded':
        tries = 0;
        subscribed = true;
        note('');
        sync();
        break;
      case 'pusher:subscription_error':
        authFailed(data);
        break;
      case 'pusher:ping':
        send('pusher:pong', {});
        break;
      case 'pusher:error':
        if (data && data.code >= 4000 && data.code < 4100) dead = true;
        break;
      case 'MessageCreated':
        add(data);
        break;
      case 'TypingStarted':
        if (data.role !== 'visitor') typing(true);
        break;
      case 'ConversationUpdated':
        rating(data.status === 'resolved');
        break;
      case 'BrandingUpdated':
        paint(data);
        break;
      case 'PresenceUpdated': // on changes, and once after each subscription
        paint({presence: data});
        break;
      case 'AvailabilityUpdated': // opened, closed or new hours saved; once after each subscription
        away(data);
        break;
    }
  }
  function authFailed(e) {
    hangup(null);
    if (e && (e.code === 'invalid_session' || e.status === 401)) { // resume: a new token, then connect
      st.t = null;
      session().catch(noop);
    }
  }
  W.addEventListener('online', function () { if (!ws && st.t) connect(); });

  // ---- public API
  var subs = {};
  function emit(name, value) {
    (subs[name] || []).slice().forEach(function (fn) {
      try { fn(value); } catch (e) { setTimeout(function () { throw e; }); }
    });
  }
  W.Chatdock = {
    version: '1',
    open: function () { whenMounted(open); },
    close: function () { whenMounted(close); },
    identify: identify,
    verify: function (p) { // {visitor_id, identity_hash, identity_ts}: e.g. after the visitor logs in
      p = p || {};
      if (!p.visitor_id || !p.identity_hash || p.identity_ts == null) return Promise.reject(new Error('visitor_id, identity_hash and identity_ts are required'));
      return new Promise(function (done) { whenMounted(done); }).then(function () {
        proof = {identity_hash: String(p.identity_hash), identity_ts: String(p.identity_ts)};
        hangup(null); // a verified session (and its channel) replaces what this device had
        if (String(p.visitor_id) !== st.v) { reset(); st = {v: String(p.visitor_id)}; }
        st.t = null;
        save();
        return session();
      }).then(function () { return {visitor_id: st.v, conversation_id: st.c}; });
    },
    on: function (name, fn) {
      (subs[name] = subs[name] || []).push(fn);
      return function () { subs[name] = subs[name].filter(function (g) { return g !== fn; }); };
    }
  };
  function identify(c) { // {name, email, phone}: now if a session exists, else at its start
    c = c || {};
    var f = {};
    ['name', 'email', 'phone'].forEach(function (k) { if (c[k]) f[k] = String(c[k]); });
    assign(contact, f);
    if (ui.pre) showForm();
    if (contact.email && ui.awayForm) ui.awayForm.hidden = true; // reachable: no need to ask
    return st.t ? sapi('POST', '/identify', f).then(function (r) { // unverified: only what was sent
      var known = assign({}, r.data);
      for (var k in contact) if (known[k] == null) known[k] = contact[k];
      return known;
    }) : Promise.resolve(contact);
  }
  function whenMounted(fn) { if (ui.wrap) fn(); else W.addEventListener('chatdock:ready', fn, {once: true}); }

  if (D.body) mount(); else D.addEventListener('DOMContentLoaded', mount);
})();
