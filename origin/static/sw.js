// The fan site's service worker: shows what Scorecast's notifier sends (Web Push) and, when a
// notification is clicked, opens the game's page (or brings its open tab forward). One
// notification per game: a newer one replaces the one shown (the alert's tag).
self.addEventListener("push", (event) => {
  let alert;
  try {
    alert = event.data ? event.data.json() : {};
  } catch {
    alert = { title: "Scorecast", body: event.data ? event.data.text() : "" };
  }
  event.waitUntil(
    self.registration.showNotification(alert.title || "Scorecast", {
      body: alert.body || "",
      tag: alert.tag,
      renotify: Boolean(alert.tag),
      data: { url: alert.url || "/" },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = new URL((event.notification.data && event.notification.data.url) || "/", self.location.origin).href;
  event.waitUntil(
    (async () => {
      const open = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      const same = open.find((client) => client.url === url);
      return same ? same.focus() : self.clients.openWindow(url);
    })(),
  );
});
