// Keeps a fan site page live: a board follows the scoreboard stream, a game page its game's
// stream, both through the Scorecast client (never an older score after a newer one; falling
// back to polling as the client does). Without this script every page still shows its last
// cached state; with it, start times show in the viewer's time zone.
import { follow, followBoard } from "/client/scorecast-client.js";

const body = document.body;

for (const node of document.querySelectorAll("time[datetime]")) {
  const when = new Date(node.dateTime);
  if (Number.isNaN(when.getTime())) continue;
  const full = node.dataset.style === "full";
  node.textContent = full
    ? when.toLocaleString([], { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" })
    : when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

const STATUS = { LIVE: "Live", SCHEDULED: "Scheduled", FINAL: "Final", POSTPONED: "Postponed", CANCELLED: "Cancelled" };

function statusText(game) {
  const text = STATUS[game.status] || game.status;
  return game.status === "LIVE" && game.period ? `${text} · period ${game.period}` : text;
}

function setStatus(node, game) {
  if (!node) return;
  node.textContent = statusText(game);
  node.dataset.status = game.status;
}

function setScore(side, team) {
  let score = side.querySelector(".score");
  if (!score) {
    score = document.createElement("span");
    score.className = "score";
    side.append(score);
  }
  score.textContent = team.score;
}

// A board's row of a game, as the page shows it (rows of games not on the page are ignored).
function showRow(row) {
  const item = document.querySelector(`li.game[data-game="${CSS.escape(row.game_id)}"]`);
  if (!item || Number(item.dataset.version) >= row.version) return;
  item.dataset.version = row.version;
  if (row.status === "LIVE" || row.status === "FINAL") {
    setScore(item.querySelector(".side.away"), row.away);
    setScore(item.querySelector(".side.home"), row.home);
    const when = item.querySelector(".state .when");
    if (when) when.remove();
  }
  setStatus(item.querySelector(".status"), row);
}

// A game page: the score line at once, then the page's own sections (line score, box score,
// plays) from the page at the edge, once it holds this version (one origin fetch per change
// for every reader).
// The version the page's sections show (a slower, older fetch never wins).
let sections = Number(document.querySelector("article.match")?.dataset.version) || 0;

// The page at the edge is behind until the purger reaches it, which a busy match day can delay
// by seconds after the stream told this page: keep asking (at most every 2 s, for about half a
// minute) rather than leave the sections behind the score line.
// The newest call asks for all (it wants a version at least as new): older ones stop.
let asking = 0;

async function refresh(version, attempts = 18) {
  const mine = ++asking;
  for (let attempt = 0; attempt < attempts && version > sections && mine === asking; attempt++) {
    try {
      const response = await fetch(location.pathname, { headers: { Accept: "text/html" } });
      if (response.ok) {
        const page = new DOMParser().parseFromString(await response.text(), "text/html");
        const found = Number(page.querySelector("article.match")?.dataset.version);
        if (found >= version) {
          if (found > sections) {
            sections = found;
            for (const id of ["line", "box", "plays"]) {
              const fresh = page.getElementById(id);
              const held = document.getElementById(id);
              if (fresh && held) held.replaceWith(fresh);
            }
          }
          return;
        }
      }
    } catch {
      // The network, for a moment: the next attempt, or the next version, tries again.
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(300 * (attempt + 1), 2000)));
  }
}

function showGame(game) {
  const article = document.querySelector("article.match");
  if (!article || Number(article.dataset.version) >= game.version) return;
  article.dataset.version = game.version;
  article.querySelector(".away-score").textContent = game.away.score;
  article.querySelector(".home-score").textContent = game.home.score;
  const clock = article.querySelector(".clock");
  const seconds = game.clock_seconds;
  clock.textContent = game.status === "LIVE" && seconds != null
    ? `${Math.floor(seconds / 60)}:${String(Math.floor(seconds % 60)).padStart(2, "0")}` : "";
  setStatus(article.querySelector(".status"), game);
  refresh(game.version);
}

if (body.dataset.page === "board" || body.dataset.page === "team") {
  followBoard({ board: body.dataset.board || "/v1/scoreboard", onRows: (rows) => rows.forEach(showRow) });
} else if (body.dataset.page === "game") {
  const following = follow(body.dataset.game, {
    onSnapshot(game) {
      showGame(game);
      if (game.status === "FINAL") following.stop();
    },
  });
}

// "Notify me": this browser registers for Web Push with the device API (through the edge) and
// follows the game; the service worker shows what comes. Where the browser cannot (no push
// service, notifications refused), the page says so and nothing else changes.
const DEVICE = "scorecast-device";

function bytesOf(base64url) {
  const text = atob(base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4));
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

async function deviceApi(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { "Content-Type": "application/json", ...(options.headers || {}) } });
  const body = response.status === 204 ? null : await response.json();
  if (!response.ok) throw new Error((body && body.error && body.error.message) || `HTTP ${response.status}`);
  return body;
}

async function follows(device, change) {
  const auth = { Authorization: `Bearer ${device.secret}` };
  const now = await deviceApi(`/v1/devices/${device.device_id}/follows`, { headers: auth });
  const games = change(now.games);
  return deviceApi(`/v1/devices/${device.device_id}/follows`, {
    method: "PUT", headers: auth, body: JSON.stringify({ games, teams: now.teams }),
  });
}

async function register() {
  if ((await Notification.requestPermission()) !== "granted") throw new Error("notifications are not allowed for this site");
  const registration = await navigator.serviceWorker.register("/sw.js");
  await navigator.serviceWorker.ready;
  const { public_key: key } = await deviceApi("/v1/devices/key");
  let subscription;
  try {
    subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: bytesOf(key) });
  } catch (error) {
    throw new Error(`this browser has no push service to use (${error.name})`);
  }
  const made = await deviceApi("/v1/devices", {
    method: "POST", body: JSON.stringify({ device: { platform: "web", subscription: subscription.toJSON() } }),
  });
  const device = { device_id: made.device_id, secret: made.secret };
  localStorage.setItem(DEVICE, JSON.stringify(device));
  return device;
}

function offerNotifications(gameId) {
  const button = document.querySelector(".notify button");
  const note = document.querySelector(".notify [role=status]");
  if (!button || !("serviceWorker" in navigator) || !("PushManager" in window)) return;
  const stored = () => JSON.parse(localStorage.getItem(DEVICE) || "null");
  const label = (on) => { button.textContent = on ? "Stop notifications" : "Notify me about this game"; button.dataset.on = on; };
  label(false);
  button.hidden = false;
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const on = button.dataset.on === "true";
      const device = stored() || (await register());
      const now = await follows(device, (games) => (on ? games.filter((g) => g !== gameId) : [...new Set([...games, gameId])]));
      label(now.games.includes(gameId));
      note.textContent = now.games.includes(gameId) ? "You will be told about this game." : "No more notifications for this game.";
    } catch (error) {
      note.textContent = `Notifications are not available: ${error.message}.`;
    } finally {
      button.disabled = false;
    }
  });
}

if (body.dataset.page === "game") offerNotifications(body.dataset.game);
