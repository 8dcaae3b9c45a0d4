// Adaptive stream: each remote video element's visible size decides which
// simulcast layer the client asks the server for. A hidden, collapsed or
// off-screen element is paused (`quality: off`). Works with any element and
// any interface; it only calls `client.subscribe`.

const SETTLE_MS = 200;
/** How much larger than the element a layer may be. */
const UPSCALE = 1.6;

export class AdaptiveStream {
  constructor(client) {
    this.client = client;
    this.entries = new Map(); // element -> {trackId, visible, width, height, sent, timer}
    this.resize = new ResizeObserver((items) => {
      for (const it of items) this.update(it.target);
    });
    this.intersect = new IntersectionObserver((items) => {
      for (const it of items) {
        const e = this.entries.get(it.target);
        if (e) e.onScreen = it.isIntersecting;
        this.update(it.target);
      }
    });
    document.addEventListener('visibilitychange', () => {
      for (const el of this.entries.keys()) this.update(el);
    });
  }

  observe(trackId, element) {
    this.unobserve(element);
    this.entries.set(element, { trackId, onScreen: true, sent: null, timer: null });
    this.resize.observe(element);
    this.intersect.observe(element);
    this.update(element);
  }

  unobserve(element) {
    const e = this.entries.get(element);
    if (!e) return;
    clearTimeout(e.timer);
    this.entries.delete(element);
    this.resize.unobserve(element);
    this.intersect.unobserve(element);
  }

  /** What an element asks for now: 'off' or {maxWidth, maxHeight}. */
  wanted(element, entry) {
    const rect = element.getBoundingClientRect();
    const hidden = document.visibilityState === 'hidden' || !entry.onScreen
      || rect.width < 2 || rect.height < 2 || !element.isConnected;
    if (hidden) return 'off';
    const dpr = globalThis.devicePixelRatio || 1;
    // Ask for the layer about the size of the element: layers differ by a
    // factor of 2 and the server picks the largest that fits, so leave room.
    return { maxWidth: Math.ceil(rect.width * dpr * UPSCALE), maxHeight: Math.ceil(rect.height * dpr * UPSCALE) };
  }

  update(element) {
    const e = this.entries.get(element);
    if (!e) return;
    clearTimeout(e.timer);
    e.timer = setTimeout(() => {
      const want = this.wanted(element, e);
      const key = want === 'off' ? 'off' : `${want.maxWidth}x${want.maxHeight}`;
      if (key === e.sent) return;
      e.sent = key;
      if (want === 'off') this.client.subscribe(e.trackId, { quality: 'off' });
      else this.client.subscribe(e.trackId, want);
    }, SETTLE_MS);
  }
}
