// Dynacast on the publishing side: the server says which simulcast layers of
// a published track someone receives (`publisher_layers`), and the sender
// stops encoding the others with RTCRtpSender.setParameters (encodings[i].active).
// A resumed encoding starts again with a keyframe, which the browser sends by
// itself. Calls are serialised per sender; only the latest wish is applied.

/** Apply `layers` ([{rid, active}]) to `sender`. Resolves to true when applied. */
export async function applyLayers(sender, layers) {
  const params = sender.getParameters();
  if (!params.encodings || params.encodings.length === 0) return false;
  let changed = false;
  params.encodings.forEach((enc, i) => {
    const wish = layers.find((l) => (l.rid == null ? i === 0 && !enc.rid : l.rid === enc.rid));
    if (wish && enc.active !== wish.active) {
      enc.active = wish.active;
      changed = true;
    }
  });
  if (changed) await sender.setParameters(params);
  return true;
}

/** Keeps the server's latest wish per published track and applies it once the sender exists. */
export class PublisherLayers {
  constructor() {
    this.wishes = new Map(); // trackId -> layers
    this.busy = new Map(); // sender -> Promise
  }

  /** Remember a `publisher_layers` message. */
  set(trackId, layers) {
    this.wishes.set(trackId, layers);
  }

  /** The layers last asked for a track (undefined: all). */
  get(trackId) {
    return this.wishes.get(trackId);
  }

  /** Apply the wish for `trackId` to `sender` (if any), after earlier calls on it. */
  apply(trackId, sender) {
    const layers = this.wishes.get(trackId);
    if (!layers || !sender) return Promise.resolve(false);
    const prev = this.busy.get(sender) || Promise.resolve();
    const run = prev.then(() => applyLayers(sender, this.wishes.get(trackId) || layers)).catch(() => false);
    this.busy.set(sender, run);
    return run;
  }

  clear() {
    this.wishes.clear();
    this.busy.clear();
  }
}
