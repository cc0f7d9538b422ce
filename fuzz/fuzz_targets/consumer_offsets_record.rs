//! The `__consumer_offsets` key and value decoders on arbitrary bytes (they read data a
//! damaged or foreign log may hold): never a panic, and what decodes re-encodes (at version
//! 3, whose strings have int16 lengths) to a value that decodes the same.
#![no_main]

use josefine_broker::coordinator::group::records::{
    decode_group_value, decode_key, decode_offset_value, group_value, offset_value,
};
use libfuzzer_sys::fuzz_target;

fn fits(s: &str) -> bool {
    s.len() <= i16::MAX as usize
}

fuzz_target!(|data: &[u8]| {
    let _ = decode_key(data);
    if let Ok(offset) = decode_offset_value(data) {
        if fits(&offset.metadata) {
            assert_eq!(
                decode_offset_value(&offset_value(&offset)).ok(),
                Some(offset)
            );
        }
    }
    if let Ok(group) = decode_group_value(data) {
        let strings = [&group.protocol_type]
            .into_iter()
            .chain(group.protocol.as_ref())
            .chain(group.leader.as_ref())
            .chain(group.members.iter().flat_map(|m| {
                [&m.member_id, &m.client_id, &m.client_host]
                    .into_iter()
                    .chain(m.group_instance_id.as_ref())
            }));
        if strings.into_iter().all(|s| fits(s)) {
            assert_eq!(decode_group_value(&group_value(&group)).ok(), Some(group));
        }
    }
});
