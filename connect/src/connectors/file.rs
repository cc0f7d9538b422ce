//! FileStreamSource and FileStreamSink (CONNECT.md f.1/f.2), Kafka's
//! `org.apache.kafka.connect.file` connectors.

use std::io::SeekFrom;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::config_def::{ConfigDef, ConfigKey, ConfigType, ConfigValue, Default, Importance};
use crate::connector::{
    Config, Connector, ConnectorType, PartitionOffset, RecordMetadata, SinkTask, SinkTaskContext,
    SourceTask, SourceTaskContext, TopicPartition,
};
use crate::data::{ConnectError, ConnectRecord, JsonMap, Schema, SchemaType, SourceRecord, Value};
use crate::plugins::{Factory, PluginDesc, PluginType};
use crate::status::{Counter, TaskCounters};

/// Kafka's source connector class.
pub const SOURCE_CLASS: &str = "org.apache.kafka.connect.file.FileStreamSourceConnector";
/// Kafka's sink connector class.
pub const SINK_CLASS: &str = "org.apache.kafka.connect.file.FileStreamSinkConnector";
/// The source partition key.
pub const FILENAME_FIELD: &str = "filename";
/// The source offset key.
pub const POSITION_FIELD: &str = "position";
const DEFAULT_BATCH_SIZE: i32 = 2000;

/// The two FileStream connectors.
pub fn plugins() -> Vec<PluginDesc> {
    vec![
        PluginDesc {
            class: SOURCE_CLASS,
            plugin_type: PluginType::Source,
            config_def: source_config_def,
            factory: Factory::Connector(|| Box::new(FileStreamSourceConnector::default())),
        },
        PluginDesc {
            class: SINK_CLASS,
            plugin_type: PluginType::Sink,
            config_def: sink_config_def,
            factory: Factory::Connector(|| Box::new(FileStreamSinkConnector::default())),
        },
    ]
}

/// FileStreamSourceConnector's keys: `file`, `topic`, `batch.size`.
pub fn source_config_def() -> ConfigDef {
    ConfigDef::new()
        .define(ConfigKey::new(
            "file",
            ConfigType::String,
            Default::Null,
            Importance::High,
            "Source filename. If not specified, the standard input will be used",
        ))
        .define(
            ConfigKey::new(
                "topic",
                ConfigType::String,
                Default::Required,
                Importance::High,
                "The topic to publish data to",
            )
            .validate_with(|value| match value {
                ConfigValue::String(s) if s.is_empty() => Err("String must be non-empty".into()),
                _ => Ok(()),
            }),
        )
        .define(ConfigKey::new(
            "batch.size",
            ConfigType::Int,
            Default::Value(DEFAULT_BATCH_SIZE.to_string()),
            Importance::Low,
            "The maximum number of records the source task can read from the file each time it is polled",
        ))
}

/// FileStreamSinkConnector's keys: `file`.
pub fn sink_config_def() -> ConfigDef {
    ConfigDef::new().define(ConfigKey::new(
        "file",
        ConfigType::String,
        Default::Null,
        Importance::High,
        "Destination filename. If not specified, the standard output will be used",
    ))
}

fn file_of(config: &Config) -> Option<String> {
    config.get("file").filter(|f| !f.is_empty()).cloned()
}

/// Reads lines of a file (or standard input) into a topic.
#[derive(Debug, Default)]
pub struct FileStreamSourceConnector {
    config: Config,
}

#[async_trait]
impl Connector for FileStreamSourceConnector {
    fn connector_type(&self) -> ConnectorType {
        ConnectorType::Source
    }

    fn config_def(&self) -> ConfigDef {
        source_config_def()
    }

    async fn start(&mut self, config: &Config) -> Result<(), ConnectError> {
        source_config_def()
            .parse(config)
            .map_err(ConnectError::config)?;
        self.config = config.clone();
        let name = file_of(config).unwrap_or_else(|| "standard input".to_string());
        tracing::info!("Starting file source connector reading from {name}");
        Ok(())
    }

    /// Only one input stream makes sense: always one task.
    fn task_configs(&self, _max_tasks: usize) -> Vec<Config> {
        vec![self.config.clone()]
    }

    fn create_source_task(&self) -> Option<Box<dyn SourceTask>> {
        Some(Box::new(FileStreamSourceTask::default()))
    }

    fn alter_offsets(
        &self,
        config: &Config,
        offsets: &[PartitionOffset],
    ) -> Result<(), ConnectError> {
        validate_source_offsets(config, offsets)
    }
}

/// Kafka's `FileStreamSourceConnector.alterOffsets` checks, with its texts.
pub fn validate_source_offsets(
    config: &Config,
    offsets: &[PartitionOffset],
) -> Result<(), ConnectError> {
    if file_of(config).is_none() {
        return Err(ConnectError::connect(
            "Offsets cannot be modified if the 'file' configuration is unspecified. \
             This is because stdin is used for input and offsets are not tracked.",
        ));
    }
    for entry in offsets {
        let Some(offset) = &entry.offset else {
            continue;
        };
        let Some(position) = offset.get(POSITION_FIELD) else {
            return Err(ConnectError::connect(
                "Offset objects should either be null or contain the key 'position'",
            ));
        };
        let Some(position) = position
            .as_i64()
            .filter(|_| position.is_i64() || position.is_u64())
        else {
            return Err(ConnectError::connect(
                "The value for the 'position' key in the offset is expected to be a Long value",
            ));
        };
        if position < 0 {
            return Err(ConnectError::connect(
                "The value for the 'position' key in the offset should be a non-negative value",
            ));
        }
        if !entry.partition.contains_key(FILENAME_FIELD) {
            return Err(ConnectError::connect(
                "Partition objects should contain the key 'filename'",
            ));
        }
    }
    Ok(())
}

/// Splits complete lines off the front of `buffer`: lines end at `\n`, `\r\n` or a lone
/// `\r`; a `\r` that is the last byte waits for the next one; an unterminated tail waits for
/// its terminator. Returns each line (UTF-8, invalid bytes replaced) with the number of
/// bytes consumed up to and including its terminator, at most `max` lines.
pub fn split_lines(buffer: &[u8], max: usize) -> Vec<(String, usize)> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < buffer.len() && lines.len() < max {
        match buffer[i] {
            b'\n' => {
                lines.push((
                    String::from_utf8_lossy(&buffer[start..i]).into_owned(),
                    i + 1,
                ));
                i += 1;
                start = i;
            }
            b'\r' => {
                if i + 1 >= buffer.len() {
                    break;
                }
                let end = if buffer[i + 1] == b'\n' { i + 2 } else { i + 1 };
                lines.push((String::from_utf8_lossy(&buffer[start..i]).into_owned(), end));
                i = end;
                start = i;
            }
            _ => i += 1,
        }
    }
    lines
}

/// The task of [`FileStreamSourceConnector`].
#[derive(Default)]
pub struct FileStreamSourceTask {
    filename: Option<String>,
    topic: String,
    batch_size: usize,
    context: Option<SourceTaskContext>,
    stream: Option<Input>,
    /// Bytes read but not yet returned as lines.
    buffer: Vec<u8>,
    /// File position of the start of `buffer`.
    position: u64,
}

impl std::fmt::Debug for FileStreamSourceTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStreamSourceTask")
            .field("filename", &self.filename)
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

/// Where the source task reads: a file, or standard input read by a thread of its own.
enum Input {
    File(tokio::fs::File),
    Stdin(tokio::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>),
}

impl Input {
    fn stdin() -> Input {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        std::thread::spawn(move || {
            use std::io::Read;
            let mut stdin = std::io::stdin();
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                let read = stdin.read(&mut chunk).map(|n| chunk[..n].to_vec());
                let end = !matches!(&read, Ok(bytes) if !bytes.is_empty());
                if tx.blocking_send(read).is_err() || end {
                    return;
                }
            }
        });
        Input::Stdin(rx)
    }

    /// Appends what is available to `buffer`; 0 at the end of the data for now.
    async fn read(&mut self, buffer: &mut Vec<u8>) -> std::io::Result<usize> {
        match self {
            Input::File(file) => {
                let mut chunk = vec![0u8; 64 * 1024];
                let n = file.read(&mut chunk).await?;
                buffer.extend_from_slice(&chunk[..n]);
                Ok(n)
            }
            Input::Stdin(rx) => match rx.recv().await {
                Some(Ok(bytes)) => {
                    buffer.extend_from_slice(&bytes);
                    Ok(bytes.len())
                }
                Some(Err(error)) => Err(error),
                None => Ok(0),
            },
        }
    }
}

fn value_schema() -> Arc<Schema> {
    Arc::new(Schema::new(SchemaType::String))
}

impl FileStreamSourceTask {
    fn partition(&self) -> JsonMap {
        let mut map = JsonMap::new();
        if let Some(name) = &self.filename {
            map.insert(
                FILENAME_FIELD.into(),
                serde_json::Value::String(name.clone()),
            );
        }
        map
    }

    /// Opens the file at the stored offset; Ok(false) when it does not exist yet.
    async fn open(&mut self) -> Result<bool, ConnectError> {
        let Some(name) = self.filename.clone() else {
            self.stream = Some(Input::stdin());
            return Ok(true);
        };
        let mut file = match tokio::fs::File::open(&name).await {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!("Couldn't find file {name} for FileStreamSourceTask, sleeping to wait for it to be created");
                return Ok(false);
            }
            Err(error) => {
                return Err(ConnectError::connect(format!(
                    "Error while trying to open file {name}: {error}"
                )));
            }
        };
        let stored = self
            .context
            .as_ref()
            .and_then(|context| context.offsets.offset(&self.partition()));
        if let Some(offset) = stored {
            match offset.get(POSITION_FIELD).and_then(|p| p.as_i64()) {
                Some(position) if position >= 0 => {
                    tracing::debug!(
                        "Found previous offset, trying to skip to file offset {position}"
                    );
                    file.seek(SeekFrom::Start(position as u64))
                        .await
                        .map_err(|e| {
                            ConnectError::connect(format!(
                                "Error while trying to seek to offset in file {name}: {e}"
                            ))
                        })?;
                    self.position = position as u64;
                }
                _ => {
                    return Err(ConnectError::connect(
                        "Offset position is the incorrect type",
                    ));
                }
            }
        } else {
            self.position = 0;
        }
        self.buffer.clear();
        self.stream = Some(Input::File(file));
        Ok(true)
    }

    fn take_lines(&mut self) -> Vec<SourceRecord> {
        let lines = split_lines(&self.buffer, self.batch_size);
        let Some(&(_, consumed)) = lines.last() else {
            return Vec::new();
        };
        let now = chrono::Utc::now().timestamp_millis();
        let partition = self.partition();
        let tracked = self.filename.is_some();
        let records = lines
            .into_iter()
            .map(|(line, end)| {
                let mut offset = JsonMap::new();
                if tracked {
                    offset.insert(POSITION_FIELD.into(), (self.position + end as u64).into());
                }
                SourceRecord {
                    record: ConnectRecord {
                        topic: self.topic.clone(),
                        value_schema: Some(value_schema()),
                        value: Value::String(line),
                        timestamp: Some(now),
                        ..ConnectRecord::default()
                    },
                    source_partition: partition.clone(),
                    source_offset: offset,
                }
            })
            .collect();
        self.buffer.drain(..consumed);
        self.position += consumed as u64;
        records
    }
}

#[async_trait]
impl SourceTask for FileStreamSourceTask {
    async fn start(
        &mut self,
        config: &Config,
        context: SourceTaskContext,
    ) -> Result<(), ConnectError> {
        let parsed = source_config_def()
            .parse(config)
            .map_err(ConnectError::config)?;
        self.filename = file_of(config);
        self.topic = parsed.string("topic").unwrap_or_default().to_string();
        self.batch_size = parsed
            .int("batch.size")
            .unwrap_or(DEFAULT_BATCH_SIZE)
            .max(1) as usize;
        self.context = Some(context);
        Ok(())
    }

    async fn poll(&mut self) -> Result<Vec<SourceRecord>, ConnectError> {
        let records = self.read_lines().await?;
        if let Some(context) = &self.context {
            context
                .counters
                .add(Counter::Accepted, records.len() as u64);
        }
        Ok(records)
    }

    async fn commit_record(&mut self, _record: &SourceRecord, metadata: Option<&RecordMetadata>) {
        if let (Some(context), Some(_)) = (&self.context, metadata) {
            context.counters.incr(Counter::Delivered);
        }
    }

    async fn stop(&mut self) {
        self.stream = None;
    }
}

impl FileStreamSourceTask {
    /// The next lines of the file: those buffered, else what arrives within about a second.
    async fn read_lines(&mut self) -> Result<Vec<SourceRecord>, ConnectError> {
        if self.stream.is_none() && !self.open().await? {
            tokio::time::sleep(Duration::from_secs(1)).await;
            return Ok(Vec::new());
        }
        let ready = self.take_lines();
        if !ready.is_empty() {
            return Ok(ready);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        loop {
            let Some(stream) = self.stream.as_mut() else {
                return Ok(Vec::new());
            };
            let read = match tokio::time::timeout_at(deadline, stream.read(&mut self.buffer)).await
            {
                Err(_) => return Ok(Vec::new()),
                Ok(Ok(n)) => n,
                Ok(Err(error)) => {
                    return Err(ConnectError::connect(format!(
                        "Error while reading from file: {error}"
                    )));
                }
            };
            if read == 0 {
                // End of the data for now: wait a little for more.
                let wait = deadline.saturating_duration_since(tokio::time::Instant::now());
                tokio::time::sleep(wait.min(Duration::from_millis(100))).await;
                if tokio::time::Instant::now() >= deadline {
                    return Ok(Vec::new());
                }
                continue;
            }
            let records = self.take_lines();
            if !records.is_empty() {
                return Ok(records);
            }
        }
    }
}

/// Writes record values, one per line, to a file (or standard output).
#[derive(Debug, Default)]
pub struct FileStreamSinkConnector {
    config: Config,
}

#[async_trait]
impl Connector for FileStreamSinkConnector {
    fn connector_type(&self) -> ConnectorType {
        ConnectorType::Sink
    }

    fn config_def(&self) -> ConfigDef {
        sink_config_def()
    }

    async fn start(&mut self, config: &Config) -> Result<(), ConnectError> {
        self.config = config.clone();
        Ok(())
    }

    fn task_configs(&self, max_tasks: usize) -> Vec<Config> {
        vec![self.config.clone(); max_tasks.max(1)]
    }

    fn create_sink_task(&self) -> Option<Box<dyn SinkTask>> {
        Some(Box::new(FileStreamSinkTask::default()))
    }
}

enum Output {
    File(tokio::fs::File),
    Stdout,
}

/// Bytes of rendered lines a [`FileStreamSinkTask`] holds before it writes them out, so that
/// replaying a backlog between two commits does not hold the backlog in memory.
pub const SINK_BUFFER_BYTES: usize = 1 << 20;

/// The task of [`FileStreamSinkConnector`]: buffers lines, writes them when
/// [`SINK_BUFFER_BYTES`] are waiting and at each flush.
#[derive(Default)]
pub struct FileStreamSinkTask {
    filename: Option<String>,
    output: Option<Output>,
    buffer: Vec<u8>,
    /// Lines in `buffer`.
    buffered_lines: u64,
    counters: Arc<TaskCounters>,
}

impl std::fmt::Debug for FileStreamSinkTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStreamSinkTask")
            .field("filename", &self.filename)
            .finish_non_exhaustive()
    }
}

impl FileStreamSinkTask {
    async fn write_out(&mut self) -> Result<(), ConnectError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let failed = |e: std::io::Error| {
            ConnectError::connect(format!("Couldn't write to the destination file: {e}"))
        };
        match self.output.as_mut() {
            Some(Output::File(file)) => {
                file.write_all(&self.buffer).await.map_err(failed)?;
                file.flush().await.map_err(failed)?;
            }
            Some(Output::Stdout) => {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                out.write_all(&self.buffer).map_err(failed)?;
                out.flush().map_err(failed)?;
            }
            None => return Ok(()),
        }
        self.buffer.clear();
        self.counters
            .add(Counter::Delivered, std::mem::take(&mut self.buffered_lines));
        Ok(())
    }
}

#[async_trait]
impl SinkTask for FileStreamSinkTask {
    async fn start(
        &mut self,
        config: &Config,
        context: SinkTaskContext,
    ) -> Result<(), ConnectError> {
        self.counters = context.counters;
        self.filename = file_of(config);
        self.output = Some(match &self.filename {
            None => Output::Stdout,
            Some(name) => Output::File(
                tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(name)
                    .await
                    .map_err(|e| {
                        ConnectError::connect(format!(
                            "Couldn't find or create file '{name}' for FileStreamSinkTask: {e}"
                        ))
                    })?,
            ),
        });
        Ok(())
    }

    async fn put(&mut self, records: Vec<ConnectRecord>) -> Result<(), ConnectError> {
        self.counters.add(Counter::Accepted, records.len() as u64);
        for record in records {
            self.buffer
                .extend_from_slice(crate::render::render_value(&record.value).as_bytes());
            self.buffer.push(b'\n');
            self.buffered_lines += 1;
            if self.buffer.len() >= SINK_BUFFER_BYTES {
                self.write_out().await?;
            }
        }
        Ok(())
    }

    async fn flush(
        &mut self,
        _offsets: &std::collections::HashMap<TopicPartition, i64>,
    ) -> Result<(), ConnectError> {
        self.write_out().await
    }

    async fn stop(&mut self) {
        if let Err(error) = self.write_out().await {
            tracing::error!(%error, "FileStreamSinkTask failed to flush at stop");
        }
        self.output = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lines: &[(String, usize)]) -> Vec<(&str, usize)> {
        lines.iter().map(|(l, n)| (l.as_str(), *n)).collect()
    }

    #[test]
    fn lines_split_on_lf_crlf_and_lone_cr() {
        assert_eq!(
            texts(&split_lines(b"a\nbb\r\nc\rd", 100)),
            [("a", 2), ("bb", 6), ("c", 8)]
        );
        // A CR at the end of the data waits for the next byte.
        assert_eq!(texts(&split_lines(b"a\r", 100)), []);
        assert_eq!(texts(&split_lines(b"a\r\n", 100)), [("a", 3)]);
        assert_eq!(texts(&split_lines(b"\n\n", 100)), [("", 1), ("", 2)]);
        assert_eq!(texts(&split_lines(b"x\ny\nz\n", 2)), [("x", 2), ("y", 4)]);
        assert_eq!(texts(&split_lines(b"unterminated", 100)), []);
    }

    #[test]
    fn offsets_validation_uses_kafkas_texts() {
        let config: Config = [("file".to_string(), "a.txt".to_string())].into();
        let entry =
            |partition: serde_json::Value, offset: Option<serde_json::Value>| PartitionOffset {
                partition: partition.as_object().unwrap().clone(),
                offset: offset.map(|o| o.as_object().unwrap().clone()),
            };
        let ok = entry(
            serde_json::json!({"filename": "a.txt"}),
            Some(serde_json::json!({"position": 3})),
        );
        assert!(validate_source_offsets(&config, std::slice::from_ref(&ok)).is_ok());
        let negative = entry(
            serde_json::json!({"filename": "a.txt"}),
            Some(serde_json::json!({"position": -1})),
        );
        assert_eq!(
            validate_source_offsets(&config, &[negative])
                .unwrap_err()
                .message,
            "The value for the 'position' key in the offset should be a non-negative value"
        );
        let text = entry(
            serde_json::json!({"filename": "a.txt"}),
            Some(serde_json::json!({"position": "3"})),
        );
        assert_eq!(
            validate_source_offsets(&config, &[text])
                .unwrap_err()
                .message,
            "The value for the 'position' key in the offset is expected to be a Long value"
        );
        let no_file = entry(
            serde_json::json!({"x": 1}),
            Some(serde_json::json!({"position": 1})),
        );
        assert_eq!(
            validate_source_offsets(&config, &[no_file])
                .unwrap_err()
                .message,
            "Partition objects should contain the key 'filename'"
        );
        assert!(validate_source_offsets(&Config::new(), &[ok])
            .unwrap_err()
            .message
            .starts_with("Offsets cannot be modified if the 'file' configuration is unspecified."));
    }

    #[tokio::test]
    async fn source_task_reads_lines_and_resumes_from_an_offset() {
        struct Stored(Option<JsonMap>);
        impl crate::connector::OffsetReader for Stored {
            fn offset(&self, _partition: &JsonMap) -> Option<JsonMap> {
                self.0.clone()
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.txt");
        std::fs::write(&path, b"foo\nbar\r\npartial").unwrap();
        let config: Config = [
            ("file".to_string(), path.display().to_string()),
            ("topic".to_string(), "t".to_string()),
        ]
        .into();
        let mut task = FileStreamSourceTask::default();
        let context = SourceTaskContext {
            offsets: Arc::new(Stored(None)),
            counters: Arc::default(),
        };
        task.start(&config, context).await.unwrap();
        let records = task.poll().await.unwrap();
        let values: Vec<_> = records.iter().map(|r| r.record.value.clone()).collect();
        assert_eq!(
            values,
            [Value::String("foo".into()), Value::String("bar".into())]
        );
        assert_eq!(
            records[1].source_offset.get("position"),
            Some(&serde_json::json!(9))
        );
        assert_eq!(
            records[0].source_partition.get("filename"),
            Some(&serde_json::json!(path.display().to_string()))
        );

        let stored: JsonMap = serde_json::json!({"position": 4})
            .as_object()
            .unwrap()
            .clone();
        let mut task = FileStreamSourceTask::default();
        let context = SourceTaskContext {
            offsets: Arc::new(Stored(Some(stored))),
            counters: Arc::default(),
        };
        task.start(&config, context).await.unwrap();
        let records = task.poll().await.unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].record.value, Value::String("bar".into()));
    }
}
