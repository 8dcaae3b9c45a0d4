//! The dependency descriptor as a str0m header extension: str0m does not
//! know it, so its bytes travel raw in `ExtensionValues::user_values`
//! ([`DdBytes`]), read on every connection that negotiated it and written on
//! the packets that carry them. [`crate::dd_stream`] reads them.
//!
//! str0m keeps user values in a map behind an `Arc`: a packet that carries
//! the descriptor costs one allocation when it arrives, and one more for
//! each subscriber it is written to (the map's clone). Only AV1 packets
//! carry theirs through the SFU.

use str0m::rtp::{Extension, ExtensionSerializer, ExtensionValues};

use crate::dependency_descriptor::URI;

/// The extension id the SFU offers to subscribers (a publisher's offer
/// chooses its own; str0m answers with the offer's ids).
pub const DD_EXTENSION_ID: u8 = 12;

/// The longest descriptor (a two-byte-header extension element).
const MAX_LEN: usize = 255;

/// One packet's descriptor, as received.
#[derive(Clone)]
pub struct DdBytes {
    len: u8,
    bytes: [u8; MAX_LEN],
}

impl std::fmt::Debug for DdBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DdBytes({:02x?})", self.as_slice())
    }
}

impl DdBytes {
    pub fn new(src: &[u8]) -> Option<DdBytes> {
        let len = u8::try_from(src.len()).ok()?;
        let mut bytes = [0; MAX_LEN];
        bytes[..src.len()].copy_from_slice(src);
        Some(DdBytes { len, bytes })
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The descriptor a packet carries, if any.
    pub fn of(ext: &ExtensionValues) -> Option<&[u8]> {
        ext.user_values.get::<DdBytes>().map(DdBytes::as_slice)
    }
}

#[derive(Debug)]
struct DdSerializer;

impl ExtensionSerializer for DdSerializer {
    fn write_to(&self, buf: &mut [u8], ev: &ExtensionValues) -> usize {
        match DdBytes::of(ev) {
            Some(b) if b.len() <= buf.len() => {
                buf[..b.len()].copy_from_slice(b);
                b.len()
            }
            _ => 0,
        }
    }

    fn parse_value(&self, buf: &[u8], ev: &mut ExtensionValues) -> bool {
        match DdBytes::new(buf) {
            Some(b) => {
                ev.user_values.set(b);
                true
            }
            None => false,
        }
    }

    fn is_video(&self) -> bool {
        true
    }

    fn is_audio(&self) -> bool {
        false
    }

    fn requires_two_byte_form(&self, ev: &ExtensionValues) -> bool {
        DdBytes::of(ev).is_some_and(|b| b.len() > 16)
    }
}

/// The extension to register on every connection.
pub fn extension() -> Extension {
    Extension::with_serializer(URI, DdSerializer)
}
