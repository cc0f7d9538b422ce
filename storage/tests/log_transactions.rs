//! Producer state in `PartitionLog`: duplicates, sequence gaps, markers, the last stable offset,
//! aborted transactions, and all of it after clean and unclean reopening.

use josefine_storage::batch::{
    attributes, build_batch_as, control_type, BatchHeader, BatchProducer, ControlType,
};
use josefine_storage::producer_state::ProducerStateError;
use josefine_storage::{LogConfig, LogDir, PartitionLog, StorageError, TopicPartition};

fn batch(producer_id: i64, epoch: i16, sequence: i32, records: usize, txn: bool) -> Vec<u8> {
    let values: Vec<_> = (0..records)
        .map(|_| (1_000, None, Some(&b"v"[..])))
        .collect();
    build_batch_as(
        &BatchProducer {
            producer_id,
            producer_epoch: epoch,
            base_sequence: sequence,
            attributes: if txn { attributes::TRANSACTIONAL } else { 0 },
        },
        &values,
    )
}

/// Opens partition `t-0` of `log_dir`.
fn open(log_dir: &LogDir, clean: bool) -> Result<PartitionLog, StorageError> {
    let config = LogConfig {
        segment_bytes: 4096,
        ..LogConfig::default()
    };
    PartitionLog::open(log_dir, &TopicPartition::new("t", 0), config, clean)
}

/// (base offset, is control) of every batch from `from`, below `max_offset`.
fn batches(
    log: &PartitionLog,
    from: i64,
    max_offset: i64,
) -> Result<Vec<(i64, bool)>, StorageError> {
    let mut out = Vec::new();
    let mut offset = from;
    loop {
        let bytes = log.read_below(offset, 1 << 20, true, max_offset)?;
        if bytes.is_empty() {
            return Ok(out);
        }
        let mut rest = &bytes[..];
        while let Some(header) = BatchHeader::parse(rest) {
            out.push((header.base_offset(), header.is_control()));
            offset = header.last_offset() + 1;
            rest = &rest[header.total_size()..];
        }
    }
}

#[test]
fn retries_are_acknowledged_with_their_original_offsets() -> Result<(), Box<dyn std::error::Error>>
{
    let dir = tempfile::tempdir()?;
    let log_dir = LogDir::open(dir.path())?;
    let log = open(&log_dir, true)?;
    let first = log.append(&batch(1, 0, 0, 3, false), 0)?;
    let second = log.append(&batch(1, 0, 3, 2, false), 0)?;
    assert_eq!((first.base_offset, second.base_offset), (0, 3));
    let retry = log.append(&batch(1, 0, 0, 3, false), 0)?;
    assert!(retry.duplicate);
    assert_eq!((retry.base_offset, retry.last_offset), (0, 2));
    assert_eq!(log.log_end_offset(), 5);
    assert!(matches!(
        log.append(&batch(1, 0, 7, 1, false), 0),
        Err(StorageError::Producer(
            ProducerStateError::OutOfOrderSequence { expected: 5, .. }
        ))
    ));
    assert_eq!(log.log_end_offset(), 5, "a refused batch writes nothing");
    // Clients may not write markers.
    let marker = josefine_storage::batch::build_control_batch(1, 0, ControlType::Commit, 0, 1);
    assert!(matches!(
        log.append(&marker, 0),
        Err(StorageError::InvalidRecord { .. })
    ));

    // A clean close snapshots the state; an unclean reopen replays the log.
    log.close()?;
    drop(log);
    let log = open(&log_dir, true)?;
    assert!(log.append(&batch(1, 0, 3, 2, false), 0)?.duplicate);
    log.append(&batch(1, 0, 5, 1, false), 0)?;
    drop(log);
    let log = open(&log_dir, false)?;
    assert!(log.append(&batch(1, 0, 5, 1, false), 0)?.duplicate);
    assert!(matches!(
        log.append(&batch(1, 0, 9, 1, false), 0),
        Err(StorageError::Producer(
            ProducerStateError::OutOfOrderSequence { .. }
        ))
    ));
    Ok(())
}

#[test]
fn markers_move_the_last_stable_offset_and_record_aborts() -> Result<(), Box<dyn std::error::Error>>
{
    let dir = tempfile::tempdir()?;
    let log_dir = LogDir::open(dir.path())?;
    let log = open(&log_dir, true)?;
    log.append(&batch(-1, -1, -1, 1, false), 0)?; // 0
    log.append(&batch(5, 0, 0, 2, true), 0)?; // 1-2, aborted
    log.append(&batch(6, 0, 0, 2, true), 0)?; // 3-4, committed
    assert_eq!(log.last_stable_offset(), 1);
    assert_eq!(
        batches(&log, 0, log.last_stable_offset())?,
        vec![(0, false)]
    );
    assert!(matches!(
        log.append(&batch(5, 0, 2, 1, false), 0),
        Err(StorageError::Producer(
            ProducerStateError::InvalidTxnState { .. }
        ))
    ));
    let abort = log.append_marker(5, 0, ControlType::Abort, 0)?;
    assert_eq!((abort, log.last_stable_offset()), (5, 3));
    let commit = log.append_marker(6, 0, ControlType::Commit, 0)?;
    assert_eq!((commit, log.last_stable_offset()), (6, 7));
    let read = log.read(6, 1 << 20, true)?;
    assert_eq!(control_type(&read), Some(ControlType::Commit));
    let aborted = log.aborted_transactions(0, 7);
    assert_eq!(aborted.len(), 1);
    assert_eq!(
        (
            aborted[0].producer_id,
            aborted[0].first_offset,
            aborted[0].last_offset
        ),
        (5, 1, 5)
    );
    assert!(log.aborted_transactions(6, 7).is_empty());
    assert!(log.aborted_transactions(0, 1).is_empty());
    // A marker with an older epoch than the producer's is refused.
    log.append(&batch(7, 3, 0, 1, true), 0)?;
    assert!(matches!(
        log.append_marker(7, 2, ControlType::Abort, 0),
        Err(StorageError::Producer(
            ProducerStateError::InvalidProducerEpoch { .. }
        ))
    ));
    assert_eq!(log.last_stable_offset(), 7);

    // Unclean reopen: the open transaction and the aborted one come back.
    drop(log);
    let log = open(&log_dir, false)?;
    assert_eq!(log.last_stable_offset(), 7);
    assert_eq!(log.aborted_transactions(0, 8).len(), 1);
    log.append_marker(7, 3, ControlType::Abort, 0)?;
    assert_eq!(log.last_stable_offset(), 9);
    assert_eq!(log.aborted_transactions(0, 9).len(), 2);
    log.close()?;
    drop(log);
    let log = open(&log_dir, true)?;
    assert_eq!(log.aborted_transactions(0, 9).len(), 2);
    assert_eq!(log.last_stable_offset(), 9);
    Ok(())
}

#[test]
fn producer_state_survives_segment_rolls_and_a_crash() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let log_dir = LogDir::open(dir.path())?;
    let log = open(&log_dir, true)?;
    let mut sequence = 0;
    for _ in 0..200 {
        log.append(&batch(9, 0, sequence, 4, true), 0)?;
        sequence += 4;
    }
    assert!(log.segment_count() > 3, "the test needs segment rolls");
    log.append_marker(9, 0, ControlType::Abort, 0)?;
    for _ in 0..50 {
        log.append(&batch(9, 0, sequence, 4, true), 0)?;
        sequence += 4;
    }
    let unstable = log.last_stable_offset();
    drop(log);
    let log = open(&log_dir, false)?;
    assert_eq!(log.last_stable_offset(), unstable);
    assert_eq!(log.aborted_transactions(0, i64::MAX).len(), 1);
    assert!(
        log.append(&batch(9, 0, sequence - 4, 4, true), 0)?
            .duplicate
    );
    log.append(&batch(9, 0, sequence, 4, true), 0)?;
    let entry = log.producers().into_iter().find(|p| p.producer_id == 9);
    assert_eq!(entry.map(|e| e.last_sequence()), Some(sequence + 3));
    Ok(())
}
