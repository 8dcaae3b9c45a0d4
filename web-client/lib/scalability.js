// Temporal layers for the camera: each simulcast encoding asks for VP8 L1T3
// (one spatial layer, three temporal layers: 30, 15 and 7.5 frames a second)
// where the browser says it can send it, so that the server can lower a
// subscriber's frame rate before its resolution, without a keyframe.
// A browser that lists no scalability modes in RTCRtpSender.getCapabilities
// gets no scalabilityMode and sends as it would: Chromium 156 lists none but
// sends VP8 simulcast as L1T3 by default; Firefox sends no temporal layers.

/** 'L1T3' when the browser can send `codec` ('VP8', 'H264') with it, else undefined. */
export function cameraScalabilityMode(codec) {
  const caps = globalThis.RTCRtpSender?.getCapabilities?.('video');
  const want = `video/${codec}`.toLowerCase();
  const entry = caps?.codecs?.find((c) => c.mimeType.toLowerCase() === want);
  return entry?.scalabilityModes?.includes('L1T3') ? 'L1T3' : undefined;
}

/** VP9 SVC instead of simulcast: one encoding whose pictures carry three
 *  spatial layers (1/4, 1/2 and full size) and three temporal layers, the
 *  upper spatial layers predicted from the lower ones only in keyframes, as
 *  Chromium sends `L3T3_KEY`. The server forwards each subscriber the layers
 *  it needs (docs/media-quality.md, "SVC"). */
export const VP9_SVC_ENCODINGS = [{ scalabilityMode: 'L3T3_KEY', maxBitrate: 1_700_000 }];

/** The codecs the camera goes out in as SVC (one encoding, the same
 *  `L3T3_KEY`) rather than simulcast: VP9, and AV1, whose layers the server
 *  reads from the dependency descriptor header extension. */
export const SVC_CODECS = ['VP9', 'AV1'];

/** The camera's simulcast encodings, with `mode` on each when given. */
export function cameraEncodings(encodings, mode) {
  return encodings.map((e) => (mode ? { ...e, scalabilityMode: mode } : { ...e }));
}
