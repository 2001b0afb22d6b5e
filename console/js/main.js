// The console's start: settings, sign-in and sign-out, and switching between the screens
// the signed-in user's permissions open (`#geofences`, `#team`).

import { api, consoleConfig, onSessionEnded, signIn, signOut } from './api.js';
import { byId, quiet, say } from './dom.js';
import {
  beginGeofences, hideGeofences, initGeofences, resetGeofences, showGeofences,
} from './geofences.js';
import { createMap } from './map.js';
import { beginTeam, hideTeam, initTeam, resetTeam, showTeam } from './team.js';
import { initTestPoint, resetTestPoint } from './testpoint.js';

const SCREENS = {
  geofences: {
    allowed: (p) => p.includes('geofences.read'),
    panel: 'geofences-panel', show: showGeofences, hide: hideGeofences,
  },
  team: {
    allowed: (p) => p.includes('reports.read:team') || p.includes('reports.read:org'),
    panel: 'team-panel', show: showTeam, hide: hideTeam,
  },
};

let config = { tiles: null };
let map = null;
let me = null;
let current = null;

function allowedScreens() {
  return Object.keys(SCREENS).filter((name) => SCREENS[name].allowed(me.permissions));
}

async function route() {
  if (!me) return;
  const allowed = allowedScreens();
  const wanted = location.hash.slice(1);
  const name = allowed.includes(wanted) ? wanted : allowed[0];
  if (!name) {
    say('Your roles open no screen of the console (it needs geofences.read or reports.read).', 'error');
    return;
  }
  if (current === name) return;
  if (current) {
    SCREENS[current].hide();
    byId(SCREENS[current].panel).hidden = true;
  }
  current = name;
  document.body.dataset.screen = name;
  for (const other of Object.keys(SCREENS)) byId(`nav-${other}`).classList.toggle('active', other === name);
  byId(SCREENS[name].panel).hidden = false;
  try {
    await SCREENS[name].show();
  } catch (e) {
    say(e.message, 'error');
  }
}

async function start() {
  me = await api('GET', '/v1/me');
  const org = await api('GET', '/v1/org');
  byId('sign-in').hidden = true;
  byId('workspace').hidden = false;
  byId('nav').hidden = false;
  byId('sign-out').hidden = false;
  byId('who').textContent = `${me.name} · ${org.name}`;
  for (const name of Object.keys(SCREENS)) byId(`nav-${name}`).hidden = !SCREENS[name].allowed(me.permissions);
  if (!map) {
    // The map needs its container shown; the screens' listeners last as long as the page.
    map = createMap(config);
    initTestPoint(map);
    initGeofences(map);
    initTeam(map);
  } else {
    map.invalidateSize();
  }
  beginGeofences(me);
  beginTeam(org);
  current = null;
  await route();
}

/** Back to the sign-in form, with nothing of the last session left on the page. */
function showSignIn(message) {
  if (current) SCREENS[current].hide();
  for (const screen of Object.values(SCREENS)) byId(screen.panel).hidden = true;
  current = null;
  me = null;
  delete document.body.dataset.screen;
  resetGeofences();
  resetTeam();
  resetTestPoint();
  byId('workspace').hidden = true;
  byId('nav').hidden = true;
  byId('sign-out').hidden = true;
  byId('who').textContent = '';
  byId('sign-in').hidden = false;
  byId('sign-in-error').textContent = message || '';
  byId('password').value = '';
  byId('email').focus();
}

async function submitSignIn(event) {
  event.preventDefault();
  const button = byId('sign-in-button');
  const error = byId('sign-in-error');
  error.textContent = '';
  button.disabled = true;
  try {
    await signIn(byId('email').value, byId('password').value);
    byId('password').value = '';
    quiet();
    await start();
  } catch (e) {
    error.textContent = e.status === 401 ? 'Wrong email or password.' : e.message;
  } finally {
    button.disabled = false;
  }
}

async function main() {
  try {
    config = await consoleConfig();
  } catch (e) {
    say(`The console's settings could not be loaded (${e.message}); the map has no tiles.`, 'error');
  }
  byId('sign-in-form').addEventListener('submit', submitSignIn);
  byId('sign-out').addEventListener('click', async () => {
    await signOut();
    showSignIn('Signed out.');
  });
  onSessionEnded((reason) => showSignIn(reason));
  window.addEventListener('hashchange', route);
  showSignIn();
}

main();
