// Wait until check() is true; reject after ms. Shared by the client's tests.
export function until(check, ms = 2000) {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (check()) return resolve();
      if (Date.now() - started > ms) return reject(new Error("condition not reached"));
      setTimeout(tick, 2);
    };
    tick();
  });
}
