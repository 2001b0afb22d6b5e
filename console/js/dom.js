// Small DOM helpers. Text always goes in as text (never as HTML), so nothing the server or
// a file says can become markup, and no inline style is ever written (the CSP forbids it).

/** The element with this id; throws if the page lacks it, which is a bug in the page. */
export function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from the page`);
  return element;
}

/**
 * `h('li', {className: 'x', dataset: {id}}, 'text', child)`: an element with properties and
 * children (strings become text nodes; null and false are skipped).
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'dataset') Object.assign(element.dataset, value);
    else if (key.startsWith('on')) element.addEventListener(key.slice(2), value);
    else element[key] = value;
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(typeof child === 'string' || typeof child === 'number' ? String(child) : child);
  }
  return element;
}

/** Replaces an element's children. */
export function fill(element, ...children) {
  element.replaceChildren();
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) element.append(child);
  }
}

let statusTimer = null;

/** A short message at the top of the page; errors stay until the next message. */
export function say(message, kind = 'info') {
  const status = byId('status');
  status.textContent = message;
  status.className = `notice ${kind}`;
  status.hidden = false;
  clearTimeout(statusTimer);
  if (kind !== 'error') statusTimer = setTimeout(() => { status.hidden = true; }, 6000);
}

export function quiet() {
  byId('status').hidden = true;
}

/** `1234567.8` m² → `1.23 km²`, `950 m²`. */
export function area(m2) {
  return m2 >= 100_000 ? `${(m2 / 1_000_000).toFixed(2)} km²` : `${Math.round(m2)} m²`;
}

/** `2026-12-07T09:02:11+05:30` → `09:02`: the time as the API wrote it, local to the user. */
export function clock(timestamp) {
  return timestamp ? timestamp.slice(11, 16) : '—';
}

/** `2026-12-07T03:32:11Z` → a readable local date and time of the browser. */
export function when(timestamp) {
  return new Date(timestamp).toLocaleString();
}
