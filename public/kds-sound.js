/* Sounds of the pages (SPEC 10.6 chime, 10.8 bell), shared by the test page, the dashboard and
 * the board: WebAudio tones, no audio file to serve or to fail to load.
 *   kdsSound.chime()  two soft rising notes: an order is ready (the board)
 *   kdsSound.bell()   three sharp falling notes: an order was cancelled or voided (every page)
 * Browsers start audio only after a gesture on the page: the first tap or key press anywhere
 * unlocks it. No sound is never an error: the pages say everything on screen too.
 * kdsSound.played counts the calls ({chime, bell}) and kdsSound.log keeps the last few
 * ({kind, at, audio}: audio is the AudioContext's state, 'none' without WebAudio), for tests
 * and for staff at the screen's console. */
(function () {
  'use strict';

  const LOG_MAX = 20;
  let ctx = null;
  const played = { chime: 0, bell: 0 };
  const log = [];

  function context() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    if (!ctx) ctx = new Ctx();
    if (ctx.state === 'suspended') ctx.resume().catch(() => {});
    return ctx;
  }

  /** notes: [[frequency Hz, start s, length s]], peak gain, oscillator type. */
  function tones(notes, peak, type) {
    const c = context();
    if (!c) return 'none';
    const t0 = c.currentTime + 0.02;
    for (const [freq, at, len] of notes) {
      const osc = c.createOscillator();
      const gain = c.createGain();
      osc.type = type;
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, t0 + at);
      gain.gain.exponentialRampToValueAtTime(peak, t0 + at + 0.015);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + at + len);
      osc.connect(gain).connect(c.destination);
      osc.start(t0 + at);
      osc.stop(t0 + at + len + 0.05);
    }
    return c.state;
  }

  function play(kind, notes, peak, type) {
    played[kind]++;
    let audio = 'none';
    try {
      audio = tones(notes, peak, type);
    } catch (e) {
      audio = 'error';
    }
    log.push({ kind, at: Date.now(), audio });
    while (log.length > LOG_MAX) log.shift();
  }

  function unlock() {
    try { context(); } catch (e) { /* no sound */ }
  }
  document.addEventListener('pointerdown', unlock);
  document.addEventListener('keydown', unlock);

  window.kdsSound = {
    chime: () => play('chime', [[880, 0, 0.9], [1318.5, 0.18, 0.9]], 0.35, 'sine'),
    bell: () => play('bell', [[1046.5, 0, 0.35], [784, 0.22, 0.35], [523.25, 0.44, 0.7]], 0.5, 'triangle'),
    unlock,
    played,
    log,
  };
}());
