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

async function refresh(version, attempts = 5) {
  for (let attempt = 0; attempt < attempts && version > sections; attempt++) {
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
    await new Promise((resolve) => setTimeout(resolve, 300 * (attempt + 1)));
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
