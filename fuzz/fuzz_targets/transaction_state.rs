//! The decoders of transaction state read back at start-up, on arbitrary bytes: producer state
//! snapshots (`.snapshot`), aborted transaction indexes (`.txnindex`) and `__transaction_state`
//! records. Never a panic; what decodes re-encodes to something that decodes the same.
#![no_main]

use josefine_broker::coordinator::txn::records::{decode_key, decode_value, value};
use josefine_storage::producer_state::{AbortedTransaction, ProducerState};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(state) = ProducerState::decode_snapshot(data) {
        let again = ProducerState::decode_snapshot(&state.encode_snapshot());
        assert_eq!(again.ok(), Some(state));
    }
    for entry in AbortedTransaction::decode_all(data) {
        assert_eq!(AbortedTransaction::decode_all(&entry.encode()), vec![entry]);
    }
    let _ = decode_key(data);
    if let Ok(txn) = decode_value(data) {
        if txn
            .partitions
            .iter()
            .all(|tp| tp.topic.len() <= i16::MAX as usize)
        {
            assert_eq!(decode_value(&value(&txn)).ok(), Some(txn));
        }
    }
});
