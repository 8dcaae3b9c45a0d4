//! Which simulcast layer a subscriber should receive: the highest layer that
//! the publisher is sending and that fits what the subscriber asked for.
//!
//! A pure function of the request and the layers' state; the forwarder then
//! switches to it at the next keyframe.

use crate::api::{LayerRequest, Quality};

/// One simulcast layer of a published track, as the selector sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerView {
    /// The publisher sent this layer recently.
    pub active: bool,
    /// Size from the last keyframe, 0 when unknown.
    pub width: u32,
    pub height: u32,
}

/// Nominal size of layer `index` of `count`, when the stream has not told us:
/// browsers scale simulcast layers by 4, 2 and 1 from a 720p camera.
fn nominal_size(index: usize, count: usize) -> (u32, u32) {
    let shift = count.saturating_sub(index + 1) as u32;
    (1280 >> shift, 720 >> shift)
}

/// How many pixels a request shows the track in: its tile's size, or the
/// nominal size of the quality asked for. The allocator serves larger tiles
/// first among equal priorities.
pub fn visible_area(request: LayerRequest) -> u32 {
    let (w, h) = match request {
        LayerRequest::Off => (0, 0),
        LayerRequest::Quality(Quality::Low) => nominal_size(0, 3),
        LayerRequest::Quality(Quality::Medium) => nominal_size(1, 3),
        LayerRequest::Quality(Quality::High) => nominal_size(2, 3),
        LayerRequest::MaxSize { width, height } => (width, height),
    };
    w.saturating_mul(h)
}

/// The layer to forward, or `None` to pause.
pub fn select_layer(request: LayerRequest, layers: &[LayerView]) -> Option<u8> {
    if layers.is_empty() {
        return None;
    }
    let top = layers.len() - 1;
    let wanted = match request {
        LayerRequest::Off => return None,
        LayerRequest::Quality(q) => match q {
            Quality::Low => 0,
            Quality::Medium => 1,
            Quality::High => 2,
        }
        .min(top),
        LayerRequest::MaxSize { width, height } => (0..=top)
            .rev()
            .find(|&i| {
                let (w, h) = match layers[i] {
                    LayerView {
                        width: w,
                        height: h,
                        ..
                    } if w > 0 && h > 0 => (w, h),
                    _ => nominal_size(i, layers.len()),
                };
                w <= width && h <= height
            })
            .unwrap_or(0),
    };
    if !layers.iter().any(|l| l.active) {
        // Nothing flows yet: aim at the wanted layer and switch when it starts.
        return Some(wanted as u8);
    }
    let best = (0..=wanted).rev().find(|&i| layers[i].active);
    let fallback = (wanted + 1..=top).find(|&i| layers[i].active);
    best.or(fallback).map(|i| i as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(width: u32, height: u32) -> LayerView {
        LayerView {
            active: true,
            width,
            height,
        }
    }
    const OFF: LayerView = LayerView {
        active: false,
        width: 0,
        height: 0,
    };

    #[test]
    fn quality_picks_the_highest_active_layer_at_or_below() {
        let three = [on(320, 180), on(640, 360), on(1280, 720)];
        assert_eq!(
            select_layer(LayerRequest::Quality(Quality::Low), &three),
            Some(0)
        );
        assert_eq!(
            select_layer(LayerRequest::Quality(Quality::Medium), &three),
            Some(1)
        );
        assert_eq!(
            select_layer(LayerRequest::Quality(Quality::High), &three),
            Some(2)
        );
        assert_eq!(select_layer(LayerRequest::Off, &three), None);
        let top_missing = [on(320, 180), on(640, 360), OFF];
        assert_eq!(
            select_layer(LayerRequest::Quality(Quality::High), &top_missing),
            Some(1)
        );
        // The low layer is gone: take the next one up rather than nothing.
        let low_missing = [OFF, on(640, 360), on(1280, 720)];
        assert_eq!(
            select_layer(LayerRequest::Quality(Quality::Low), &low_missing),
            Some(1)
        );
    }

    #[test]
    fn single_layer_tracks_always_give_layer_zero() {
        assert_eq!(
            select_layer(LayerRequest::Quality(Quality::High), &[on(1920, 1080)]),
            Some(0)
        );
        assert_eq!(
            select_layer(LayerRequest::Quality(Quality::Low), &[on(1920, 1080)]),
            Some(0)
        );
    }

    #[test]
    fn max_size_uses_known_sizes_then_nominal_ones() {
        let three = [on(320, 180), on(640, 360), on(1280, 720)];
        let ask = |w, h| LayerRequest::MaxSize {
            width: w,
            height: h,
        };
        assert_eq!(select_layer(ask(640, 360), &three), Some(1));
        assert_eq!(select_layer(ask(1000, 1000), &three), Some(1));
        assert_eq!(select_layer(ask(1920, 1080), &three), Some(2));
        assert_eq!(select_layer(ask(100, 100), &three), Some(0));
        let unknown = [on(0, 0), on(0, 0), on(0, 0)];
        assert_eq!(select_layer(ask(700, 400), &unknown), Some(1));
    }

    #[test]
    fn visible_area_ranks_tiles() {
        let tile = |w, h| {
            visible_area(LayerRequest::MaxSize {
                width: w,
                height: h,
            })
        };
        assert!(tile(640, 360) > tile(320, 180));
        assert_eq!(
            visible_area(LayerRequest::Quality(Quality::High)),
            1280 * 720
        );
        assert_eq!(visible_area(LayerRequest::Off), 0);
    }

    #[test]
    fn before_any_packet_the_wanted_layer_is_the_target() {
        assert_eq!(
            select_layer(LayerRequest::Quality(Quality::Medium), &[OFF, OFF, OFF]),
            Some(1)
        );
        assert_eq!(
            select_layer(LayerRequest::Quality(Quality::High), &[]),
            None
        );
    }
}
