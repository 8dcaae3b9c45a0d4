//! Conversions between the wire protocol's types and the media core's.

use relais_sfu::{LayerRequest, MediaKind, Quality as CoreQuality, TrackSource};

use crate::error::SignalError;
use crate::protocol::{Kind, Quality, Source, TrackInfo};

pub fn source_to_core(s: Source) -> TrackSource {
    match s {
        Source::Camera => TrackSource::Camera,
        Source::Microphone => TrackSource::Microphone,
        Source::Screen => TrackSource::Screen,
        Source::ScreenAudio => TrackSource::ScreenAudio,
    }
}

pub fn source_from_core(s: TrackSource) -> Source {
    match s {
        TrackSource::Camera => Source::Camera,
        TrackSource::Microphone => Source::Microphone,
        TrackSource::Screen => Source::Screen,
        TrackSource::ScreenAudio => Source::ScreenAudio,
    }
}

pub fn kind_from_core(k: MediaKind) -> Kind {
    match k {
        MediaKind::Audio => Kind::Audio,
        MediaKind::Video => Kind::Video,
    }
}

pub fn track_from_core(t: &relais_sfu::TrackInfo) -> TrackInfo {
    TrackInfo {
        id: t.id.to_string(),
        participant_id: t.id.owner.to_string(),
        source: source_from_core(t.source),
        kind: kind_from_core(t.kind),
        codec: t.codec.clone(),
        layers: t.layers,
        muted: t.muted,
    }
}

/// The layer request of a `subscribe` message: a quality, or a maximum size.
pub fn layer_request(
    quality: Option<Quality>,
    max_width: Option<u32>,
    max_height: Option<u32>,
) -> Result<LayerRequest, SignalError> {
    match (quality, max_width, max_height) {
        (Some(q), None, None) => Ok(match q {
            Quality::Off => LayerRequest::Off,
            Quality::Low => LayerRequest::Quality(CoreQuality::Low),
            Quality::Medium => LayerRequest::Quality(CoreQuality::Medium),
            Quality::High => LayerRequest::Quality(CoreQuality::High),
        }),
        (None, Some(width), Some(height)) => Ok(LayerRequest::MaxSize { width, height }),
        (Some(_), _, _) => Err(SignalError::bad_message(
            "subscribe takes either quality or max_width and max_height, not both",
        )),
        (None, _, _) => Err(SignalError::bad_message(
            "subscribe needs quality (off, low, medium, high) or both max_width and max_height",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_requests_from_quality_or_size() {
        assert_eq!(
            layer_request(Some(Quality::Off), None, None),
            Ok(LayerRequest::Off)
        );
        assert_eq!(
            layer_request(Some(Quality::Medium), None, None),
            Ok(LayerRequest::Quality(CoreQuality::Medium))
        );
        assert_eq!(
            layer_request(None, Some(640), Some(360)),
            Ok(LayerRequest::MaxSize {
                width: 640,
                height: 360
            })
        );
        assert!(layer_request(None, Some(640), None).is_err());
        assert!(layer_request(None, None, None).is_err());
        assert!(layer_request(Some(Quality::Low), Some(1), Some(1)).is_err());
    }

    #[test]
    fn sources_round_trip() {
        for s in [
            Source::Camera,
            Source::Microphone,
            Source::Screen,
            Source::ScreenAudio,
        ] {
            assert_eq!(source_from_core(source_to_core(s)), s);
        }
    }
}
