//! Which video codec a publisher's offer puts first.
//!
//! str0m answers in its own configured order (VP8 before H264 and VP9), and
//! browsers send the first codec of the answer: a client that asked for H264
//! with `setCodecPreferences` got VP8. Before each of a publisher's offers
//! is accepted, the codec it puts first moves to the front of its
//! connection's configuration (`Rtc::prefer_codec`, a patch of ours in
//! vendor/str0m), so the answer follows the offerer's choice, as other SFUs
//! answer.

use str0m::format::Codec;

/// The codec of the first payload type of the offer's first video section,
/// if it is one str0m forwards.
pub fn offered_video_codec(sdp: &str) -> Option<Codec> {
    let mut lines = sdp.lines().map(str::trim_end);
    let first_pt = lines
        .by_ref()
        .find_map(|l| l.strip_prefix("m=video "))?
        .split_whitespace()
        .nth(2)?
        .to_string();
    let rtpmap = format!("a=rtpmap:{first_pt} ");
    let name = lines
        .take_while(|l| !l.starts_with("m="))
        .find_map(|l| l.strip_prefix(rtpmap.as_str()))?
        .split('/')
        .next()?;
    match name.to_ascii_uppercase().as_str() {
        "VP8" => Some(Codec::Vp8),
        "VP9" => Some(Codec::Vp9),
        "H264" => Some(Codec::H264),
        "H265" => Some(Codec::H265),
        "AV1" => Some(Codec::Av1),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROMIUM_H264_FIRST: &str = "v=0\r\n\
        o=- 1 2 IN IP4 127.0.0.1\r\n\
        s=-\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
        a=rtpmap:111 opus/48000/2\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 102 103 96 97\r\n\
        a=rtpmap:96 VP8/90000\r\n\
        a=rtpmap:97 rtx/90000\r\n\
        a=rtpmap:102 H264/90000\r\n\
        a=rtpmap:103 rtx/90000\r\n";

    #[test]
    fn the_first_payload_type_of_the_first_video_section_names_the_codec() {
        assert_eq!(offered_video_codec(CHROMIUM_H264_FIRST), Some(Codec::H264));
        let vp8 = CHROMIUM_H264_FIRST.replace("102 103 96 97", "96 97 102 103");
        assert_eq!(offered_video_codec(&vp8), Some(Codec::Vp8));
        assert_eq!(offered_video_codec("v=0\r\nm=audio 9 RTP 111\r\n"), None);
        let unknown = CHROMIUM_H264_FIRST.replace("H264/90000", "FOO/90000");
        assert_eq!(offered_video_codec(&unknown), None);
    }

    #[test]
    fn the_preferred_codec_moves_first_and_the_rest_keep_their_order() {
        let codecs = |rtc: &str0m::Rtc| {
            let mut seen: Vec<Codec> = Vec::new();
            for p in rtc.codec_config().params() {
                if !seen.contains(&p.spec().codec) {
                    seen.push(p.spec().codec);
                }
            }
            seen
        };
        let mut rtc = str0m::Rtc::new(std::time::Instant::now());
        let before = codecs(&rtc);
        let at = |c: Codec| before.iter().position(|x| *x == c);
        assert!(
            at(Codec::Vp8) < at(Codec::H264),
            "str0m's own order: {before:?}"
        );
        rtc.prefer_codec(Codec::H264);
        let after = codecs(&rtc);
        assert_eq!(after[0], Codec::H264);
        let rest: Vec<_> = before.into_iter().filter(|c| *c != Codec::H264).collect();
        assert_eq!(after[1..], rest[..]);
    }
}
