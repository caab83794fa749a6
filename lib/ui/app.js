// The admin page of nest-plugin-host: plain browser JavaScript, no dependencies, no build step.
// It talks only to the REST API it is served under: its own URL without the final `ui`.

const API = new URL('.', location.href).href;
const POLL_MS = 5000;
const MUTATIONS = ['register', 'update', 'toggle', 'configure', 'remove', 'reorder', 'run'];
const AUDIT_ACTIONS = ['register', 'update', 'toggle', 'configure', 'reorder', 'remove'];

const STRINGS = {
  en: {
    skip: 'Skip to content',
    title: 'Plugin host',
    language: 'Language',
    sections: 'Sections',
    plugins: 'Plugins',
    navigation: 'Navigation',
    capabilities: 'Capabilities',
    workflows: 'Workflows',
    definitions: 'Definitions',
    recentRuns: 'Recent runs',
    refresh: 'Refresh',
    refreshWorkflows: 'Refresh workflows and runs',
    noWorkflows: 'No workflow is defined.',
    noRuns: 'No run yet.',
    workflowsForbidden: 'You may not read workflows.',
    runsForbidden: 'You may not read workflow runs.',
    stepsOf: 'Steps of {0}',
    src_code: 'code',
    src_runtime: 'runtime',
    colRun: 'Run',
    colWorkflow: 'Workflow',
    colStatus: 'Status',
    colStarted: 'Started',
    colSteps: 'Steps',
    attempts: 'attempts: {0}',
    st_pending: 'pending',
    st_running: 'running',
    st_succeeded: 'succeeded',
    st_failed: 'failed',
    st_skipped: 'skipped',
    st_compensated: 'compensated',
    audit: 'Audit',
    loading: 'Loading…',
    readOnly: 'Read-only',
    readOnlyHelp: 'You can see everything here but change nothing.',
    configReadOnly: 'You may not change this config.',
    counts: '{0} of {1} enabled',
    live: 'Live',
    polling: 'Polling every 5 s',
    connecting: 'Connecting…',
    filter: 'Filter',
    colPlugin: 'Plugin',
    colLabels: 'Labels',
    colKind: 'Kind',
    colEnabled: 'Enabled',
    colNav: 'In navigation',
    colSort: 'Sort',
    colVersion: 'Version',
    colConfig: 'Config',
    enabledOf: '{0} enabled',
    navOf: 'Show {0} in navigation',
    sortOf: 'Sort of {0}',
    editConfig: 'Edit',
    viewConfig: 'View',
    configOfShort: 'Config of {0}',
    forced: 'forced off here',
    noMatch: 'No plugin matches.',
    back: 'Back to plugins',
    notFound: 'No plugin "{0}".',
    configLabel: 'Config (JSON)',
    configHelp:
      'Secrets show as ******** and keep their value unless you replace them. Saving sends only what you changed (JSON Merge Patch): a key set to null is removed. Ctrl+Enter saves.',
    save: 'Save',
    discard: 'Discard changes',
    reload: 'Reload',
    saved: 'Saved: version {0}.',
    nothing: 'Nothing changed.',
    badJson: 'Not valid JSON: {0}',
    notObject: 'The config must be a JSON object.',
    conflict: 'Changed elsewhere — reload. It is now at version {0}; your edit was not saved.',
    reloaded:
      'It changed elsewhere meanwhile: this is its current state. Try again if still needed.',
    reloadedAt:
      'It changed elsewhere meanwhile (now at version {0}): this is its current state. Try again if still needed.',
    changedElsewhere: 'Changed elsewhere: now at version {0}. Reload to see it.',
    errorsTitle: 'The server refused this config:',
    version: 'Version {0}',
    navTitle: 'Navigation order',
    navHelp:
      'Drag an item, or focus it and press Alt+↑ or Alt+↓ (or use its buttons); then save. Only enabled plugins appear in the sidebar.',
    moveUp: 'Move {0} up',
    moveDown: 'Move {0} down',
    moved: '{0}: position {1} of {2}',
    saveOrder: 'Save order',
    reset: 'Reset',
    orderSaved: 'Order saved.',
    orderConflict:
      'The navigation changed elsewhere meanwhile: this is the current order. Yours was not saved; reorder again if still needed.',
    hidden: 'hidden: disabled',
    noNav: 'No plugin is set to show in the navigation.',
    preview: 'Sidebar preview',
    unsaved: 'unsaved',
    previewEmpty: 'The sidebar is empty.',
    colCapability: 'Capability',
    colOwner: 'Owner',
    colState: 'State',
    on: 'Enabled',
    off: 'Disabled',
    run: 'Run',
    runOf: 'Run {0}',
    inputOf: 'Input for {0} (JSON)',
    runHelp: 'Ctrl+Enter runs.',
    output: 'Output',
    error: 'Error',
    running: 'Running…',
    noCaps: 'No capability is registered.',
    auditTitle: 'Audit log',
    allPlugins: 'All plugins',
    allActions: 'All actions',
    filterAction: 'Action',
    loadMore: 'Load more',
    noAudit: 'No changes recorded.',
    auditForbidden: 'You may not read the audit log.',
    auditUnavailable: 'This store keeps no audit log.',
    by: 'by {0}',
    justNow: 'just now',
    changes: 'Changes',
    field: 'Field',
    before: 'Before',
    after: 'After',
    act_register: 'Registered',
    act_update: 'Updated',
    act_toggle: 'Toggled',
    act_configure: 'Configured',
    act_reorder: 'Reordered',
    act_remove: 'Removed',
    ev_enabled: 'enabled',
    ev_disabled: 'disabled',
    ev_configured: 'configured',
    ev_updated: 'updated',
    ev_registered: 'registered',
    ev_removed: 'removed',
    ev_reordered: 'reordered',
    liveChange: '{0} {1} by {2}',
    failed: 'Failed: {0}',
  },
  ar: {
    skip: 'انتقل إلى المحتوى',
    title: 'مضيف الإضافات',
    language: 'اللغة',
    sections: 'الأقسام',
    plugins: 'الإضافات',
    navigation: 'التنقل',
    capabilities: 'القدرات',
    workflows: 'سير العمل',
    definitions: 'التعريفات',
    recentRuns: 'التشغيلات الأخيرة',
    refresh: 'تحديث',
    refreshWorkflows: 'تحديث سير العمل والتشغيلات',
    noWorkflows: 'لا يوجد سير عمل معرّف.',
    noRuns: 'لا توجد تشغيلات بعد.',
    workflowsForbidden: 'لا يحق لك قراءة سير العمل.',
    runsForbidden: 'لا يحق لك قراءة تشغيلات سير العمل.',
    stepsOf: 'خطوات {0}',
    src_code: 'في الشيفرة',
    src_runtime: 'وقت التشغيل',
    colRun: 'التشغيل',
    colWorkflow: 'سير العمل',
    colStatus: 'الحالة',
    colStarted: 'البدء',
    colSteps: 'الخطوات',
    attempts: 'المحاولات: {0}',
    st_pending: 'قيد الانتظار',
    st_running: 'قيد التشغيل',
    st_succeeded: 'نجح',
    st_failed: 'فشل',
    st_skipped: 'تم تخطيه',
    st_compensated: 'تم التعويض',
    audit: 'سجل التدقيق',
    loading: 'جارٍ التحميل…',
    readOnly: 'للقراءة فقط',
    readOnlyHelp: 'يمكنك رؤية كل شيء هنا دون تغيير أي شيء.',
    configReadOnly: 'لا يحق لك تغيير هذه الإعدادات.',
    counts: '{0} من {1} مفعّلة',
    live: 'مباشر',
    polling: 'تحديث كل 5 ثوانٍ',
    connecting: 'جارٍ الاتصال…',
    filter: 'تصفية',
    colPlugin: 'الإضافة',
    colLabels: 'التسميات',
    colKind: 'النوع',
    colEnabled: 'مفعّلة',
    colNav: 'في التنقل',
    colSort: 'الترتيب',
    colVersion: 'الإصدار',
    colConfig: 'الإعدادات',
    enabledOf: 'تفعيل {0}',
    navOf: 'إظهار {0} في التنقل',
    sortOf: 'ترتيب {0}',
    editConfig: 'تعديل',
    viewConfig: 'عرض',
    configOfShort: 'إعدادات {0}',
    forced: 'معطّلة قسرًا هنا',
    noMatch: 'لا توجد إضافة مطابقة.',
    back: 'العودة إلى الإضافات',
    notFound: 'لا توجد إضافة "{0}".',
    configLabel: 'الإعدادات (JSON)',
    configHelp:
      'تظهر القيم السرية على شكل ******** وتحتفظ بقيمتها ما لم تستبدلها. يرسل الحفظ ما غيّرته فقط (JSON Merge Patch): المفتاح المضبوط على null يُحذف. Ctrl+Enter للحفظ.',
    save: 'حفظ',
    discard: 'تجاهل التغييرات',
    reload: 'إعادة التحميل',
    saved: 'تم الحفظ: الإصدار {0}.',
    nothing: 'لم يتغير شيء.',
    badJson: 'ليس JSON صالحًا: {0}',
    notObject: 'يجب أن تكون الإعدادات كائن JSON.',
    conflict: 'تغيّرت في مكان آخر — أعد التحميل. أصبحت في الإصدار {0}؛ لم يُحفظ تعديلك.',
    reloaded: 'تغيّرت في مكان آخر في الأثناء: هذه حالتها الحالية. أعد المحاولة إن لزم.',
    reloadedAt:
      'تغيّرت في مكان آخر في الأثناء (أصبحت في الإصدار {0}): هذه حالتها الحالية. أعد المحاولة إن لزم.',
    changedElsewhere: 'تغيّرت في مكان آخر: الإصدار الآن {0}. أعد التحميل لرؤيتها.',
    errorsTitle: 'رفض الخادم هذه الإعدادات:',
    version: 'الإصدار {0}',
    navTitle: 'ترتيب التنقل',
    navHelp:
      'اسحب عنصرًا، أو ركّز عليه واضغط Alt+↑ أو Alt+↓ (أو استخدم أزراره)؛ ثم احفظ. تظهر الإضافات المفعّلة فقط في الشريط الجانبي.',
    moveUp: 'نقل {0} إلى الأعلى',
    moveDown: 'نقل {0} إلى الأسفل',
    moved: '{0}: الموضع {1} من {2}',
    saveOrder: 'حفظ الترتيب',
    reset: 'إعادة الضبط',
    orderSaved: 'تم حفظ الترتيب.',
    orderConflict:
      'تغيّر التنقل في مكان آخر في الأثناء: هذا هو الترتيب الحالي. لم يُحفظ ترتيبك؛ أعد الترتيب إن لزم.',
    hidden: 'مخفية: معطّلة',
    noNav: 'لا توجد إضافة معدّة للظهور في التنقل.',
    preview: 'معاينة الشريط الجانبي',
    unsaved: 'غير محفوظ',
    previewEmpty: 'الشريط الجانبي فارغ.',
    colCapability: 'القدرة',
    colOwner: 'المالك',
    colState: 'الحالة',
    on: 'مفعّلة',
    off: 'معطّلة',
    run: 'تشغيل',
    runOf: 'تشغيل {0}',
    inputOf: 'مدخلات {0} (JSON)',
    runHelp: 'Ctrl+Enter للتشغيل.',
    output: 'المخرجات',
    error: 'خطأ',
    running: 'جارٍ التشغيل…',
    noCaps: 'لا توجد قدرات مسجلة.',
    auditTitle: 'سجل التدقيق',
    allPlugins: 'كل الإضافات',
    allActions: 'كل الإجراءات',
    filterAction: 'الإجراء',
    loadMore: 'تحميل المزيد',
    noAudit: 'لا توجد تغييرات مسجلة.',
    auditForbidden: 'لا يحق لك قراءة سجل التدقيق.',
    auditUnavailable: 'هذا المخزن لا يحتفظ بسجل تدقيق.',
    by: 'بواسطة {0}',
    justNow: 'الآن',
    changes: 'التغييرات',
    field: 'الحقل',
    before: 'قبل',
    after: 'بعد',
    act_register: 'تسجيل',
    act_update: 'تحديث',
    act_toggle: 'تبديل',
    act_configure: 'تهيئة',
    act_reorder: 'إعادة ترتيب',
    act_remove: 'إزالة',
    ev_enabled: 'فُعّلت',
    ev_disabled: 'عُطّلت',
    ev_configured: 'عُدّلت إعداداتها',
    ev_updated: 'حُدّثت',
    ev_registered: 'سُجّلت',
    ev_removed: 'أُزيلت',
    ev_reordered: 'أُعيد ترتيبها',
    liveChange: '{0} {1} بواسطة {2}',
    failed: 'فشل: {0}',
  },
};

const state = {
  lang: initialLang(),
  view: 'plugins',
  arg: '',
  dash: null,
  nav: [],
  /** The `ETag` of the last `GET /nav`, and the one the unsaved order started from. */
  navETag: null,
  draftETag: null,
  access: null,
  filter: '',
  notice: null,
  editor: null,
  draft: null,
  navStatus: '',
  navFailed: false,
  run: null,
  audit: { items: [], next: null, slug: '', action: '', error: '', loaded: false },
  workflows: { definitions: [], runs: [], runsForbidden: false, error: '', loaded: false },
  live: 'connecting',
  loadError: '',
};
const flashed = new Set();
let dragging = false;

// ------------------------------------------------------------------ helpers

function initialLang() {
  const asked = new URLSearchParams(location.search).get('lang');
  if (asked === 'ar' || asked === 'en') return asked;
  try {
    return localStorage.getItem('plugin-host-lang') === 'ar' ? 'ar' : 'en';
  } catch {
    return 'en';
  }
}

function t(key, ...args) {
  const text = STRINGS[state.lang][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\d)\}/g, (_, i) => String(args[Number(i)]));
}

/** Builds an element; strings become text nodes, so data from the API is never parsed as HTML. */
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (['value', 'checked', 'disabled', 'readOnly'].includes(key)) el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined && child !== false) el.append(child);
  }
  return el;
}

const byId = (id) => document.getElementById(id);
const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
const pluginOf = (slug) => state.dash?.plugins.find((p) => p.slug === slug);
const name = (p) => (state.lang === 'ar' && p.labelAr) || p.labelEn || p.slug;
/** The label, followed by the slug when they differ. */
const named = (p) => [name(p), name(p) === p.slug ? null : [' ', h('code', {}, p.slug)]];
const enabledHere = (p) => p.enabled && !state.dash.forcedDisabled?.includes(p.slug);
const path = (...parts) => parts.map(encodeURIComponent).join('/');

function can(action, slug) {
  const access = state.access;
  if (!access) return true;
  if (slug && action === 'run' && slug in access.capabilities) return access.capabilities[slug];
  const own = slug ? access.plugins[slug] : undefined;
  if (own && action in own) return own[action];
  return access.actions[action] === true;
}

const anyMutation = (flags) => MUTATIONS.some((a) => flags[a] === true);

function readOnly() {
  const access = state.access;
  if (!access) return false;
  return (
    !anyMutation(access.actions) &&
    !Object.values(access.plugins).some(anyMutation) &&
    !Object.values(access.capabilities).includes(true)
  );
}

function announce(text) {
  const region = byId('announcer');
  region.textContent = '';
  setTimeout(() => (region.textContent = text), 50);
}

class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

/** Calls the API; resolves `{ data, response }`, throws an `ApiError` for an error status. */
async function call(method, url, body, headers = {}) {
  const init = { method, headers: { accept: 'application/json', ...headers } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(API + url, init);
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: text };
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return { data, response };
}

async function api(method, url, body, headers = {}) {
  return (await call(method, url, body, headers)).data;
}

const ifMatch = (version) => ({ 'if-match': `"${version}"` });
const errorText = (e) =>
  e instanceof ApiError
    ? `${e.status} ${e.body?.code ?? ''}: ${e.message}`
    : String(e?.message ?? e);

/** The JSON Merge Patch (RFC 7396) that turns `from` into `to`. */
function mergeDiff(from, to) {
  const patch = Object.create(null);
  for (const key of Object.keys(from)) if (!Object.hasOwn(to, key)) patch[key] = null;
  for (const key of Object.keys(to)) {
    const a = Object.hasOwn(from, key) ? from[key] : undefined;
    const b = to[key];
    if (isObject(a) && isObject(b)) {
      const inner = mergeDiff(a, b);
      if (Object.keys(inner).length > 0) patch[key] = inner;
    } else if (JSON.stringify(a) !== JSON.stringify(b)) patch[key] = b;
  }
  return patch;
}

/**
 * The violations of a 400 body as `{ path, message }`, paths relative to the config: the server's
 * `details` (`config.smtp.port` from the schema, `body.smtp.__proto__` from the patch both name a
 * config key), else every line of `errors` (or the `message`) without a path.
 */
function parseErrors(body) {
  if (Array.isArray(body?.details) && body.details.length > 0) {
    return body.details.map((detail) => ({
      path: String(detail.path).replace(/^(?:config|body)(?:\.|$)/, ''),
      message: String(detail.message),
    }));
  }
  return (body?.errors ?? [body?.message ?? '']).map((message) => ({ path: '', message }));
}

/** Flattens a plugin snapshot to `path -> JSON text`, for the audit diff. */
function flatten(value, prefix = '', out = {}) {
  if (isObject(value) && Object.keys(value).length > 0) {
    for (const [key, inner] of Object.entries(value)) {
      if (!prefix && (key === 'updatedAt' || key === 'createdAt')) continue;
      flatten(inner, prefix ? `${prefix}.${key}` : key, out);
    }
  } else if (prefix) out[prefix] = JSON.stringify(value);
  return out;
}

/** `just now`, `5 minutes ago`, `3 hours ago`, else the date and time. */
function when(at, locale) {
  const seconds = (Date.now() - Date.parse(at)) / 1000;
  if (seconds < 45) return t('justNow');
  const relative = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
  if (seconds < 3600) return relative.format(-Math.round(seconds / 60), 'minute');
  if (seconds < 86400) return relative.format(-Math.round(seconds / 3600), 'hour');
  return new Date(at).toLocaleString(locale);
}

// ------------------------------------------------------------------ data

async function load() {
  const [dash, nav] = await Promise.all([
    api('GET', 'dashboard'),
    call('GET', `nav?lang=${state.lang}`),
  ]);
  state.dash = dash;
  state.nav = nav.data;
  state.navETag = nav.response.headers.get('etag');
  state.loadError = '';
  syncEditor();
  if (state.view === 'audit') await loadAudit('latest');
  render();
}

async function loadAccess() {
  try {
    state.access = await api('GET', 'access');
  } catch {
    state.access = null;
  }
}

let refreshTimer;
function refreshSoon(withAccess = false) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    try {
      if (withAccess) await loadAccess();
      await load();
    } catch (e) {
      state.loadError = errorText(e);
      render();
    }
  }, 80);
}

/** `'first'` replaces the list, `'more'` appends the next page, `'latest'` prepends new entries. */
async function loadAudit(mode) {
  const audit = state.audit;
  const query = new URLSearchParams({ limit: '20' });
  if (audit.slug) query.set('slug', audit.slug);
  if (audit.action) query.set('action', audit.action);
  if (mode === 'more' && audit.next) query.set('cursor', audit.next);
  try {
    const page = await api('GET', `audit?${query}`);
    if (mode === 'more') audit.items = [...audit.items, ...page.items];
    else if (mode === 'latest' && audit.loaded) {
      const top = audit.items[0]?.id ?? 0;
      audit.items = [...page.items.filter((e) => e.id > top), ...audit.items];
    } else audit.items = page.items;
    if (mode !== 'latest' || !audit.loaded) audit.next = page.nextCursor;
    audit.error = '';
  } catch (e) {
    audit.error =
      e.status === 403
        ? t('auditForbidden')
        : e.status === 501
          ? t('auditUnavailable')
          : errorText(e);
  }
  audit.loaded = true;
}

/** The workflow definitions and the most recent runs, newest first. */
async function loadWorkflows() {
  const workflows = state.workflows;
  // Runs hold inputs, outputs and errors: reading them is an action of its own.
  const readRuns = can('workflow.read');
  try {
    const [definitions, page] = await Promise.all([
      api('GET', 'workflows'),
      readRuns ? api('GET', 'workflows/runs?limit=20') : { items: [] },
    ]);
    workflows.definitions = definitions;
    workflows.runs = [...page.items].sort(
      (a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt),
    );
    workflows.runsForbidden = !readRuns;
    workflows.error = '';
  } catch (e) {
    workflows.error = e.status === 403 ? t('workflowsForbidden') : errorText(e);
  }
  workflows.loaded = true;
}

// ------------------------------------------------------------------ live updates

let polling;
function setLive(mode) {
  state.live = mode;
  if (mode === 'live') {
    clearInterval(polling);
    polling = undefined;
  } else if (mode === 'polling' && !polling) {
    polling = setInterval(() => refreshSoon(), POLL_MS);
  }
  renderChrome();
}

function connect() {
  if (typeof EventSource !== 'function') return setLive('polling');
  const source = new EventSource(`${API}events`);
  let lost = false;
  source.addEventListener('open', () => {
    if (lost) refreshSoon(true);
    lost = false;
    setLive('live');
  });
  source.addEventListener('change', (message) => {
    const event = JSON.parse(message.data);
    for (const slug of event.slug.split(',')) flashed.add(slug);
    announce(t('liveChange', event.slug, t(`ev_${event.action}`), event.actor));
    refreshSoon(event.action === 'registered' || event.action === 'removed');
  });
  source.addEventListener('error', () => {
    lost = true;
    setLive('polling');
    // A refused or non-stream answer closes an EventSource for good: try again later.
    if (source.readyState === EventSource.CLOSED) setTimeout(connect, 30_000);
  });
}

// ------------------------------------------------------------------ actions

async function mutate(operation) {
  state.notice = null;
  try {
    await operation();
  } catch (e) {
    const now = e.body?.currentVersion;
    const text =
      e.status !== 412 ? errorText(e) : now === undefined ? t('reloaded') : t('reloadedAt', now);
    state.notice = { error: true, text };
  }
  try {
    await load();
  } catch (e) {
    state.loadError = errorText(e);
    render();
  }
}

const toggle = (p, enabled) =>
  mutate(() => api('POST', `${path('plugins', p.slug)}/toggle`, { enabled }, ifMatch(p.version)));

const update = (p, changes) =>
  mutate(() => api('PATCH', path('plugins', p.slug), changes, ifMatch(p.version)));

function editorFor(p) {
  const text = JSON.stringify(p.config, null, 2);
  return { slug: p.slug, version: p.version, original: p.config, pristine: text, text, errors: [] };
}

/** Keeps an untouched editor in step with the plugin; flags a touched one that fell behind. */
function syncEditor() {
  const editor = state.editor;
  const p = editor && pluginOf(editor.slug);
  if (!p || p.version === editor.version || editor.conflict) return;
  if (editor.text === editor.pristine) state.editor = { ...editorFor(p), status: editor.status };
  else editor.behind = p.version;
}

async function saveConfig(p) {
  const editor = state.editor;
  editor.status = '';
  let next;
  try {
    next = JSON.parse(editor.text);
  } catch (e) {
    editor.errors = [{ path: '', message: t('badJson', e.message) }];
    return render();
  }
  if (!isObject(next)) {
    editor.errors = [{ path: '', message: t('notObject') }];
    return render();
  }
  const patch = mergeDiff(editor.original, next);
  if (Object.keys(patch).length === 0) {
    editor.errors = [];
    editor.status = t('nothing');
    return render();
  }
  try {
    const saved = await api(
      'POST',
      `${path('plugins', p.slug)}/configure`,
      patch,
      ifMatch(editor.version),
    );
    state.editor = { ...editorFor(saved), status: t('saved', saved.version) };
    await load();
  } catch (e) {
    if (e.status === 412) {
      editor.errors = [];
      editor.conflict = true;
      editor.current = e.body?.currentVersion;
      render();
      return load().catch(render);
    } else if (e.status === 400) editor.errors = parseErrors(e.body);
    else editor.errors = [{ path: '', message: errorText(e) }];
    render();
  }
}

async function reloadEditor(slug) {
  try {
    const p = await api('GET', path('plugins', slug));
    state.editor = editorFor(p);
    await load();
  } catch (e) {
    state.editor.errors = [{ path: '', message: errorText(e) }];
    render();
  }
}

/** Selects `"key"` of a dotted path in the config text, so an error leads to its field. */
function selectPath(dotted) {
  const area = byId('config-text');
  const keys = dotted.split(/\.|\[\d+\]/).filter(Boolean);
  let at = 0;
  for (const key of keys) {
    const found = area.value.indexOf(`"${key}"`, at);
    if (found === -1) break;
    at = found;
  }
  area.focus();
  const key = keys.at(-1) ?? '';
  if (area.value.startsWith(`"${key}"`, at)) area.setSelectionRange(at, at + key.length + 2);
}

function navOrder() {
  const navSlugs = state.dash.plugins.filter((p) => p.nav).map((p) => p.slug);
  if (!state.draft) return navSlugs;
  const kept = state.draft.filter((slug) => navSlugs.includes(slug));
  return [...kept, ...navSlugs.filter((slug) => !kept.includes(slug))];
}

function moveItem(slug, delta) {
  const order = navOrder();
  const from = order.indexOf(slug);
  const to = from + delta;
  if (from === -1 || to < 0 || to >= order.length) return;
  order.splice(to, 0, ...order.splice(from, 1));
  setDraft(order);
  render();
  announce(t('moved', name(pluginOf(slug)), to + 1, order.length));
}

function setDraft(order) {
  const saved = state.dash.plugins.filter((p) => p.nav).map((p) => p.slug);
  // The save is conditional on the order this draft started from, not on later live reloads.
  if (!state.draft) state.draftETag = state.navETag;
  state.draft = order.join() === saved.join() ? null : order;
  if (!state.draft) state.draftETag = null;
  state.navStatus = '';
  state.navFailed = false;
}

function clearDraft() {
  state.draft = null;
  state.draftETag = null;
}

async function saveOrder() {
  const order = navOrder();
  const positions = new Set(order);
  let next = 0;
  // Every plugin keeps its place; only the navigation ones trade places among themselves.
  const slugs = state.dash.plugins.map((p) => (positions.has(p.slug) ? order[next++] : p.slug));
  const base = state.draftETag ?? state.navETag;
  try {
    await api('PUT', 'nav/order', { slugs }, base ? { 'if-match': base } : {});
    clearDraft();
    state.navStatus = t('orderSaved');
    state.navFailed = false;
    announce(state.navStatus);
    await load();
  } catch (e) {
    if (e.status === 412) {
      clearDraft();
      state.navStatus = t('orderConflict');
      state.navFailed = true;
      announce(state.navStatus);
      return load().catch((error) => {
        state.loadError = errorText(error);
        render();
      });
    }
    state.navStatus = t('failed', errorText(e));
    state.navFailed = true;
    render();
  }
}

function startDrag(event) {
  const item = event.target.closest('li[data-slug]');
  if (!item || event.button !== 0 || event.target.closest('button') || !can('reorder')) return;
  event.preventDefault();
  item.focus();
  const list = item.parentElement;
  dragging = true;
  item.classList.add('dragging');
  const move = (e) => {
    const after = [...list.children].find((other) => {
      if (other === item) return false;
      const box = other.getBoundingClientRect();
      return e.clientY < box.top + box.height / 2;
    });
    if (after !== item.nextElementSibling) {
      list.insertBefore(item, after ?? null);
      const order = [...list.children].map((li) => li.dataset.slug);
      byId('preview').replaceWith(preview(order));
    }
  };
  const end = () => {
    removeEventListener('pointermove', move);
    removeEventListener('pointerup', end);
    removeEventListener('pointercancel', end);
    dragging = false;
    const order = [...list.children].map((li) => li.dataset.slug);
    setDraft(order);
    render();
    const slug = item.dataset.slug;
    byId(`nav-item-${slug}`)?.focus();
    announce(t('moved', name(pluginOf(slug)), order.indexOf(slug) + 1, order.length));
  };
  addEventListener('pointermove', move);
  addEventListener('pointerup', end);
  addEventListener('pointercancel', end);
}

async function runCapability() {
  const run = state.run;
  let input;
  try {
    input = JSON.parse(run.input || '{}');
  } catch (e) {
    run.result = { ok: false, status: t('badJson', e.message), body: null };
    return render();
  }
  run.result = { pending: true };
  render();
  try {
    const body = await api('POST', `${path('capabilities', run.slug)}/run`, input);
    run.result = { ok: true, status: '200', body };
  } catch (e) {
    run.result = { ok: false, status: errorText(e), body: e.body ?? null };
  }
  if (state.run === run) render();
}

// ------------------------------------------------------------------ views

function notice() {
  const items = [];
  if (readOnly()) items.push(h('p', { class: 'note' }, t('readOnlyHelp')));
  if (state.loadError) items.push(h('p', { class: 'note error', role: 'alert' }, state.loadError));
  if (state.notice)
    items.push(
      h(
        'p',
        { class: `note ${state.notice.error ? 'error' : ''}`, role: 'alert' },
        state.notice.text,
      ),
    );
  return items;
}

const heading = (text, ...rest) => h('h2', { id: 'view-title', tabindex: -1 }, text, ...rest);

function pluginsView() {
  const query = state.filter.trim().toLowerCase();
  const rows = state.dash.plugins.filter(
    (p) =>
      !query ||
      [p.slug, p.kind, p.labelEn, p.labelAr].some((v) => v && v.toLowerCase().includes(query)),
  );
  const head = ['colPlugin', 'colLabels', 'colKind', 'colEnabled', 'colNav', 'colSort'];
  return [
    heading(t('plugins')),
    ...notice(),
    h(
      'div',
      { class: 'toolbar' },
      h('label', { for: 'filter' }, t('filter')),
      h('input', {
        id: 'filter',
        type: 'search',
        value: state.filter,
        oninput: (e) => {
          state.filter = e.target.value;
          render();
        },
      }),
    ),
    h(
      'div',
      { class: 'scroll' },
      h(
        'table',
        { class: 'plugins' },
        h('caption', { class: 'sr-only' }, t('plugins')),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            head.map((key) => h('th', { scope: 'col' }, t(key))),
            h('th', { scope: 'col', class: 'num' }, t('colVersion')),
            h('th', { scope: 'col' }, t('colConfig')),
          ),
        ),
        h('tbody', {}, rows.map(pluginRow)),
      ),
    ),
    rows.length === 0 && h('p', {}, t('noMatch')),
  ];
}

function pluginRow(p) {
  const forced = state.dash.forcedDisabled?.includes(p.slug);
  const label = name(p);
  const canEdit = can('configure', p.slug);
  return h(
    'tr',
    { id: `row-${p.slug}`, class: flashed.has(p.slug) ? 'flash' : null },
    h('th', { scope: 'row' }, h('code', {}, p.slug)),
    h(
      'td',
      { class: 'labels' },
      h('span', {}, h('bdi', { lang: 'en' }, p.labelEn || (p.labelAr ? '' : '—'))),
      p.labelAr && h('span', {}, h('bdi', { lang: 'ar', dir: 'rtl' }, p.labelAr)),
    ),
    h('td', {}, p.kind),
    h(
      'td',
      {},
      h('input', {
        type: 'checkbox',
        role: 'switch',
        class: 'switch',
        id: `enabled-${p.slug}`,
        checked: p.enabled,
        disabled: !can('toggle', p.slug),
        'aria-label': t('enabledOf', label),
        onchange: (e) => toggle(p, e.target.checked),
      }),
      forced && h('span', { class: 'badge warn' }, t('forced')),
    ),
    h(
      'td',
      {},
      h('input', {
        type: 'checkbox',
        id: `nav-${p.slug}`,
        checked: p.nav,
        disabled: !can('update', p.slug),
        'aria-label': t('navOf', label),
        onchange: (e) => update(p, { nav: e.target.checked }),
      }),
    ),
    h(
      'td',
      {},
      h('input', {
        type: 'number',
        class: 'sort',
        id: `sort-${p.slug}`,
        step: 1,
        value: String(p.sort),
        disabled: !can('update', p.slug),
        'aria-label': t('sortOf', label),
        onchange: (e) => update(p, { sort: e.target.valueAsNumber }),
      }),
    ),
    h('td', { class: 'num' }, String(p.version)),
    h(
      'td',
      {},
      h(
        'a',
        {
          href: `#config/${p.slug}`,
          class: 'button',
          id: `config-${p.slug}`,
          'aria-label': `${t(canEdit ? 'editConfig' : 'viewConfig')}: ${t('configOfShort', label)}`,
        },
        t(canEdit ? 'editConfig' : 'viewConfig'),
      ),
    ),
  );
}

function configView() {
  const p = pluginOf(state.arg);
  const back = h('p', {}, h('a', { href: '#plugins' }, t('back')));
  if (!p)
    return [back, heading(t('configOfShort', state.arg)), h('p', {}, t('notFound', state.arg))];
  if (state.editor?.slug !== p.slug) state.editor = editorFor(p);
  const editor = state.editor;
  const writable = can('configure', p.slug);
  const errors = editor.errors;
  return [
    back,
    heading(t('configOfShort', ''), named(p)),
    h('p', { class: 'muted' }, t('version', editor.version)),
    !writable && h('p', { class: 'note' }, t('configReadOnly')),
    editor.conflict &&
      h(
        'p',
        { class: 'note error', role: 'alert' },
        t('conflict', editor.current ?? p.version),
        ' ',
        h(
          'button',
          { type: 'button', id: 'conflict-reload', onclick: () => reloadEditor(p.slug) },
          t('reload'),
        ),
      ),
    editor.behind &&
      !editor.conflict &&
      h('p', { class: 'note warn', role: 'status' }, t('changedElsewhere', editor.behind)),
    h(
      'form',
      {
        class: 'editor',
        novalidate: true,
        onsubmit: (e) => {
          e.preventDefault();
          if (writable) void saveConfig(p);
        },
      },
      h('label', { for: 'config-text' }, t('configLabel')),
      h('p', { id: 'config-help', class: 'muted' }, t('configHelp')),
      h('textarea', {
        id: 'config-text',
        rows: Math.min(24, Math.max(8, editor.text.split('\n').length + 1)),
        spellcheck: 'false',
        autocapitalize: 'off',
        value: editor.text,
        readOnly: !writable,
        dir: 'ltr',
        'aria-describedby': 'config-help config-errors',
        'aria-invalid': errors.length > 0 ? 'true' : null,
        oninput: (e) => (editor.text = e.target.value),
        onkeydown: (e) => {
          if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && writable) {
            e.preventDefault();
            void saveConfig(p);
          }
        },
      }),
      h(
        'div',
        { id: 'config-errors', class: 'errors', role: 'alert' },
        errors.length > 0 && [
          h('p', {}, t('errorsTitle')),
          h(
            'ul',
            {},
            errors.map((error, i) =>
              h(
                'li',
                {},
                error.path &&
                  h(
                    'button',
                    {
                      type: 'button',
                      class: 'link',
                      id: `error-${i}`,
                      onclick: () => selectPath(error.path),
                    },
                    h('code', {}, error.path),
                  ),
                error.path ? ' ' : '',
                error.message,
              ),
            ),
          ),
        ],
      ),
      h(
        'div',
        { class: 'actions' },
        writable && h('button', { type: 'submit', class: 'primary', id: 'save-config' }, t('save')),
        writable &&
          h(
            'button',
            {
              type: 'button',
              id: 'discard-config',
              onclick: () => {
                state.editor = editorFor(pluginOf(p.slug));
                render();
              },
            },
            t('discard'),
          ),
        h(
          'button',
          { type: 'button', id: 'reload-config', onclick: () => reloadEditor(p.slug) },
          t('reload'),
        ),
      ),
      h('p', { role: 'status', class: 'muted', id: 'config-status' }, editor.status ?? ''),
    ),
  ];
}

function preview(order) {
  const rank = new Map(order.map((slug, i) => [slug, i]));
  const items = [...state.nav].sort(
    (a, b) => (rank.get(a.slug) ?? 1e9) - (rank.get(b.slug) ?? 1e9),
  );
  return h(
    'section',
    { id: 'preview', class: 'preview', 'aria-labelledby': 'preview-title' },
    h(
      'h3',
      { id: 'preview-title' },
      t('preview'),
      state.draft && h('span', { class: 'badge warn' }, t('unsaved')),
    ),
    items.length === 0
      ? h('p', { class: 'muted' }, t('previewEmpty'))
      : h(
          'ul',
          { id: 'preview-list' },
          items.map((item) =>
            h(
              'li',
              { dir: item.dir, lang: item.dir === 'rtl' ? 'ar' : 'en', 'data-slug': item.slug },
              item.label,
            ),
          ),
        ),
  );
}

function navView() {
  const order = navOrder();
  const writable = can('reorder');
  const list = h(
    'ol',
    { id: 'nav-list', class: `reorder${writable ? ' movable' : ''}`, onpointerdown: startDrag },
    order.map((slug, i) => {
      const p = pluginOf(slug);
      const label = name(p);
      return h(
        'li',
        {
          id: `nav-item-${slug}`,
          'data-slug': slug,
          tabindex: writable ? 0 : null,
          'aria-describedby': writable ? 'nav-help' : null,
          class: enabledHere(p) ? null : 'off',
          onkeydown: (e) => {
            if (!writable || !e.altKey || (e.key !== 'ArrowUp' && e.key !== 'ArrowDown')) return;
            e.preventDefault();
            moveItem(slug, e.key === 'ArrowUp' ? -1 : 1);
          },
        },
        writable && h('span', { class: 'grip', 'aria-hidden': 'true' }, '⠿'),
        h('span', { class: 'name' }, named(p)),
        !enabledHere(p) && h('span', { class: 'badge' }, t('hidden')),
        writable &&
          h(
            'span',
            { class: 'move' },
            h(
              'button',
              {
                type: 'button',
                id: `up-${slug}`,
                disabled: i === 0,
                'aria-label': t('moveUp', label),
                onclick: () => moveItem(slug, -1),
              },
              '↑',
            ),
            h(
              'button',
              {
                type: 'button',
                id: `down-${slug}`,
                disabled: i === order.length - 1,
                'aria-label': t('moveDown', label),
                onclick: () => moveItem(slug, 1),
              },
              '↓',
            ),
          ),
      );
    }),
  );
  return [
    heading(t('navTitle')),
    ...notice(),
    writable && h('p', { id: 'nav-help', class: 'muted' }, t('navHelp')),
    h(
      'div',
      { class: 'split' },
      h(
        'div',
        {},
        order.length === 0 ? h('p', {}, t('noNav')) : list,
        writable &&
          h(
            'div',
            { class: 'actions' },
            h(
              'button',
              {
                type: 'button',
                class: 'primary',
                id: 'save-order',
                disabled: !state.draft,
                onclick: saveOrder,
              },
              t('saveOrder'),
            ),
            h(
              'button',
              {
                type: 'button',
                id: 'reset-order',
                disabled: !state.draft,
                onclick: () => {
                  clearDraft();
                  render();
                },
              },
              t('reset'),
            ),
          ),
        h(
          'p',
          {
            role: 'status',
            class: state.navFailed && state.navStatus ? 'note error' : 'muted',
            id: 'nav-status',
          },
          state.navStatus,
        ),
      ),
      preview(order),
    ),
  ];
}

function capabilitiesView() {
  const caps = state.dash.capabilities;
  const run = state.run;
  return [
    heading(t('capabilities')),
    ...notice(),
    caps.length === 0
      ? h('p', {}, t('noCaps'))
      : h(
          'div',
          { class: 'scroll' },
          h(
            'table',
            {},
            h('caption', { class: 'sr-only' }, t('capabilities')),
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ['colCapability', 'colOwner', 'colState', 'run'].map((key) =>
                  h('th', { scope: 'col' }, t(key)),
                ),
              ),
            ),
            h(
              'tbody',
              {},
              caps.map((c) => {
                const owner = pluginOf(c.plugin);
                return h(
                  'tr',
                  { class: flashed.has(c.plugin) ? 'flash' : null },
                  h(
                    'th',
                    { scope: 'row' },
                    h('code', {}, c.slug),
                    c.description && h('span', { class: 'muted desc' }, c.description),
                  ),
                  h('td', {}, owner ? named(owner) : h('code', {}, c.plugin)),
                  h(
                    'td',
                    {},
                    h(
                      'span',
                      { class: `badge ${c.enabled ? 'ok' : ''}` },
                      t(c.enabled ? 'on' : 'off'),
                    ),
                  ),
                  h(
                    'td',
                    {},
                    h(
                      'button',
                      {
                        type: 'button',
                        id: `run-${c.slug}`,
                        disabled: !can('run', c.slug),
                        'aria-label': t('runOf', c.slug),
                        onclick: () => {
                          state.run = { slug: c.slug, input: '{}', result: null };
                          render();
                          byId('run-input').focus();
                        },
                      },
                      t('run'),
                    ),
                  ),
                );
              }),
            ),
          ),
        ),
    run && runPanel(run),
  ];
}

function runPanel(run) {
  const result = run.result;
  return h(
    'section',
    { class: 'panel', 'aria-labelledby': 'run-title' },
    h('h3', { id: 'run-title' }, t('runOf', run.slug)),
    h(
      'form',
      {
        onsubmit: (e) => {
          e.preventDefault();
          void runCapability();
        },
      },
      h('label', { for: 'run-input' }, t('inputOf', run.slug)),
      h('textarea', {
        id: 'run-input',
        rows: 5,
        spellcheck: 'false',
        dir: 'ltr',
        value: run.input,
        'aria-describedby': 'run-help',
        oninput: (e) => (run.input = e.target.value),
        onkeydown: (e) => {
          if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
            e.preventDefault();
            void runCapability();
          }
        },
      }),
      h('p', { id: 'run-help', class: 'muted' }, t('runHelp')),
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'submit', class: 'primary', id: 'run-submit' }, t('run')),
      ),
    ),
    h(
      'div',
      { id: 'run-result', role: 'status' },
      result?.pending && h('p', {}, t('running')),
      result &&
        !result.pending && [
          h(
            'h4',
            { class: result.ok ? 'ok-text' : 'error-text' },
            t(result.ok ? 'output' : 'error'),
            ': ',
            result.status,
          ),
          result.body !== null &&
            h(
              'pre',
              { dir: 'ltr', tabindex: 0 },
              JSON.stringify(result.ok ? result.body.output : result.body, null, 2),
            ),
        ],
    ),
  );
}

function diffTable(entry) {
  const before = flatten(entry.before ?? {});
  const after = flatten(entry.after ?? {});
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter(
    (key) => before[key] !== after[key],
  );
  if (keys.length === 0) return null;
  return h(
    'table',
    { class: 'diff' },
    h('caption', { class: 'sr-only' }, t('changes')),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['field', 'before', 'after'].map((key) => h('th', { scope: 'col' }, t(key))),
      ),
    ),
    h(
      'tbody',
      {},
      keys.map((key) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, h('code', {}, key)),
          h('td', { class: 'was' }, before[key] === undefined ? '—' : h('code', {}, before[key])),
          h('td', { class: 'now' }, after[key] === undefined ? '—' : h('code', {}, after[key])),
        ),
      ),
    ),
  );
}

const STATUS_BADGE = { succeeded: 'ok', failed: 'error', compensated: 'warn', running: 'warn' };

const statusBadge = (status) =>
  h('span', { class: `badge ${STATUS_BADGE[status] ?? ''}` }, t(`st_${status}`));

function workflowsView() {
  const workflows = state.workflows;
  const locale = state.lang === 'ar' ? 'ar' : 'en';
  return [
    heading(t('workflows')),
    ...notice(),
    h(
      'div',
      { class: 'toolbar' },
      h(
        'button',
        {
          type: 'button',
          id: 'workflows-refresh',
          'aria-label': t('refreshWorkflows'),
          onclick: () => void loadWorkflows().then(render),
        },
        t('refresh'),
      ),
    ),
    workflows.error && h('p', { class: 'note', role: 'status' }, workflows.error),
    h(
      'section',
      { 'aria-labelledby': 'definitions-title' },
      h('h3', { id: 'definitions-title' }, t('definitions')),
      workflows.loaded &&
        !workflows.error &&
        workflows.definitions.length === 0 &&
        h('p', {}, t('noWorkflows')),
      h(
        'ul',
        { class: 'workflows' },
        workflows.definitions.map((w) =>
          h(
            'li',
            { id: `workflow-${w.name}` },
            h(
              'p',
              { class: 'meta' },
              h('strong', {}, h('code', {}, w.name)),
              h('span', { class: 'badge', 'data-source': w.source }, t(`src_${w.source}`)),
              ' ',
              h('span', { class: 'muted' }, t('version', w.version)),
            ),
            w.description && h('p', { class: 'muted desc' }, w.description),
            h(
              'ol',
              { class: 'steps', 'aria-label': t('stepsOf', w.name) },
              w.steps.map((step) =>
                h(
                  'li',
                  { 'data-step': step.id },
                  h(
                    'bdi',
                    { dir: 'ltr' },
                    h('code', {}, step.id),
                    ' → ',
                    h('code', {}, step.capability),
                  ),
                ),
              ),
            ),
          ),
        ),
      ),
    ),
    h(
      'section',
      { 'aria-labelledby': 'runs-title' },
      h('h3', { id: 'runs-title' }, t('recentRuns')),
      workflows.runsForbidden && h('p', { class: 'note' }, t('runsForbidden')),
      workflows.loaded &&
        !workflows.error &&
        !workflows.runsForbidden &&
        workflows.runs.length === 0 &&
        h('p', {}, t('noRuns')),
      workflows.runs.length > 0 &&
        h(
          'div',
          { class: 'scroll' },
          h(
            'table',
            { class: 'runs' },
            h('caption', { class: 'sr-only' }, t('recentRuns')),
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ['colRun', 'colWorkflow', 'colStatus', 'colStarted', 'colSteps'].map((key) =>
                  h('th', { scope: 'col' }, t(key)),
                ),
              ),
            ),
            h(
              'tbody',
              {},
              workflows.runs.map((run) =>
                h(
                  'tr',
                  { id: `wf-run-${run.id}`, 'data-run': run.id },
                  h(
                    'th',
                    { scope: 'row' },
                    h(
                      'code',
                      { title: run.id },
                      run.id.length > 12 ? `${run.id.slice(0, 8)}…` : run.id,
                    ),
                  ),
                  h('td', {}, h('code', {}, run.workflow)),
                  h(
                    'td',
                    { class: 'run-status' },
                    statusBadge(run.status),
                    run.error &&
                      h(
                        'span',
                        { class: 'error-text desc' },
                        h('bdi', { dir: 'ltr' }, `${run.error.code}: ${run.error.message}`),
                      ),
                  ),
                  h(
                    'td',
                    {},
                    h(
                      'time',
                      {
                        datetime: run.createdAt,
                        title: new Date(run.createdAt).toLocaleString(locale),
                      },
                      when(run.createdAt, locale),
                    ),
                  ),
                  h(
                    'td',
                    {},
                    h(
                      'ol',
                      { class: 'steps' },
                      run.steps.map((step) =>
                        h(
                          'li',
                          { 'data-step': step.id },
                          h('code', {}, step.id),
                          ' ',
                          statusBadge(step.status),
                          ' ',
                          h('span', { class: 'muted' }, t('attempts', step.attempts)),
                          step.error &&
                            h(
                              'span',
                              { class: 'error-text desc' },
                              h('bdi', { dir: 'ltr' }, `${step.error.code}: ${step.error.message}`),
                            ),
                        ),
                      ),
                    ),
                  ),
                ),
              ),
            ),
          ),
        ),
    ),
  ];
}

function auditView() {
  const audit = state.audit;
  const reload = () => {
    audit.loaded = false;
    void loadAudit('first').then(render);
  };
  const select = (id, label, value, options, onchange) => [
    h('label', { for: id }, label),
    h(
      'select',
      { id, onchange },
      options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)),
    ),
  ];
  const locale = state.lang === 'ar' ? 'ar' : 'en';
  return [
    heading(t('auditTitle')),
    ...notice(),
    h(
      'div',
      { class: 'toolbar' },
      select(
        'audit-slug',
        t('colPlugin'),
        audit.slug,
        [['', t('allPlugins')], ...state.dash.plugins.map((p) => [p.slug, p.slug])],
        (e) => {
          audit.slug = e.target.value;
          reload();
        },
      ),
      select(
        'audit-action',
        t('filterAction'),
        audit.action,
        [['', t('allActions')], ...AUDIT_ACTIONS.map((a) => [a, t(`act_${a}`)])],
        (e) => {
          audit.action = e.target.value;
          reload();
        },
      ),
    ),
    audit.error && h('p', { class: 'note', role: 'status' }, audit.error),
    !audit.error && audit.loaded && audit.items.length === 0 && h('p', {}, t('noAudit')),
    h(
      'ol',
      { class: 'audit' },
      audit.items.map((entry) =>
        h(
          'li',
          { id: `audit-${entry.id}` },
          h(
            'p',
            { class: 'meta' },
            h('strong', {}, t(`act_${entry.action}`)),
            ' ',
            h('code', {}, entry.slug),
            ' ',
            h('span', {}, t('by', entry.actor)),
            ' · ',
            h(
              'time',
              { datetime: entry.at, title: new Date(entry.at).toLocaleString(locale) },
              when(entry.at, locale),
            ),
            ' · ',
            h(
              'span',
              { class: 'muted', title: entry.instance },
              entry.instance.length > 12 ? `${entry.instance.slice(0, 8)}…` : entry.instance,
            ),
          ),
          diffTable(entry),
        ),
      ),
    ),
    audit.next &&
      h(
        'button',
        {
          type: 'button',
          id: 'audit-more',
          onclick: () => void loadAudit('more').then(render),
        },
        t('loadMore'),
      ),
  ];
}

// ------------------------------------------------------------------ rendering

function renderChrome() {
  const root = document.documentElement;
  root.lang = state.lang;
  root.dir = state.lang === 'ar' ? 'rtl' : 'ltr';
  document.title = t('title');
  for (const el of document.querySelectorAll('[data-t]')) el.textContent = t(el.dataset.t);
  for (const el of document.querySelectorAll('[data-t-label]'))
    el.setAttribute('aria-label', t(el.dataset.tLabel));
  for (const button of document.querySelectorAll('[data-lang]'))
    button.setAttribute('aria-pressed', String(button.dataset.lang === state.lang));
  for (const link of document.querySelectorAll('.tabs a')) {
    const current = link.hash.slice(1) === (state.view === 'config' ? 'plugins' : state.view);
    if (current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const counts = state.dash?.counts;
  byId('counts').textContent = counts ? t('counts', counts.enabled, counts.total) : '';
  const live = byId('live');
  live.dataset.state = state.live;
  live.textContent = t(state.live);
  const badge = byId('readonly');
  badge.hidden = !readOnly();
  badge.title = t('readOnlyHelp');
}

const VIEWS = {
  plugins: pluginsView,
  config: configView,
  navigation: navView,
  capabilities: capabilitiesView,
  workflows: workflowsView,
  audit: auditView,
};

function render() {
  if (dragging) return;
  renderChrome();
  const main = byId('main');
  if (!state.dash) {
    if (state.loadError) main.replaceChildren(...notice());
    return;
  }
  const active = document.activeElement;
  const focusId = active && active !== main && main.contains(active) ? active.id : '';
  let selection = null;
  try {
    if (focusId && typeof active.selectionStart === 'number')
      selection = [active.selectionStart, active.selectionEnd, active.scrollTop];
  } catch {
    selection = null;
  }
  main.replaceChildren(...[VIEWS[state.view]()].flat(Infinity).filter(Boolean));
  main.dataset.view = state.view;
  flashed.clear();
  if (!focusId) return;
  let target = byId(focusId);
  if (target?.disabled) target = target.closest('li[tabindex], tr') ?? byId('view-title');
  if (!target) return;
  target.focus({ preventScroll: true });
  if (selection) {
    try {
      target.setSelectionRange(selection[0], selection[1]);
      target.scrollTop = selection[2];
    } catch {
      // Not a text field any more.
    }
  }
}

function showRoute(focus) {
  const [view, ...rest] = location.hash.slice(1).split('/');
  state.view = view in VIEWS ? view : 'plugins';
  state.arg = decodeURIComponent(rest.join('/'));
  if (state.view !== 'config') state.editor = null;
  state.notice = null;
  const audit = state.audit;
  const ready =
    state.view === 'audit' && !audit.loaded
      ? loadAudit('first')
      : state.view === 'workflows'
        ? loadWorkflows()
        : Promise.resolve();
  void ready.then(() => {
    render();
    if (focus) byId('view-title')?.focus();
  });
}

async function setLang(lang) {
  state.lang = lang;
  try {
    localStorage.setItem('plugin-host-lang', lang);
  } catch {
    // Storage may be off; the choice then lasts until reload.
  }
  renderChrome();
  try {
    const nav = await call('GET', `nav?lang=${lang}`);
    state.nav = nav.data;
    state.navETag = nav.response.headers.get('etag');
  } catch (e) {
    state.loadError = errorText(e);
  }
  render();
}

async function start() {
  for (const button of document.querySelectorAll('[data-lang]'))
    button.addEventListener('click', () => setLang(button.dataset.lang));
  addEventListener('hashchange', () => showRoute(true));
  renderChrome();
  try {
    await loadAccess();
    await load();
  } catch (e) {
    state.loadError = errorText(e);
  }
  showRoute(false);
  connect();
}

void start();
