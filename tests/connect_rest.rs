//! The Connect REST API (CONNECT.md a, R1-R27) over real HTTP (`reqwest`), against a worker
//! on an embedded broker, with the built-in FileStream connectors.

use std::sync::Arc;
use std::time::{Duration, Instant};

use josefine::connect::config_provider::ConfigProviders;
use josefine::connect::herder::Herder;
use josefine::connect::rest::RestServer;
use josefine::connect::runtime::Worker;
use josefine::connect::status::StatusStore;
use josefine::connect::worker_config::WorkerConfig;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::TestResult;
use crate::watchdog;

/// A worker with its REST server and broker.
struct Connect {
    herder: Arc<Herder>,
    server: RestServer,
    broker: josefine::Broker,
    client: reqwest::Client,
    dir: tempfile::TempDir,
}

/// One answer: status, parsed body (Null when empty), headers.
struct Answer {
    status: u16,
    body: Value,
    headers: reqwest::header::HeaderMap,
}

impl Connect {
    async fn start(extra: &[(&str, &str)]) -> TestResult<Connect> {
        let broker = josefine::Broker::builder().start().await?;
        let dir = tempfile::tempdir()?;
        let mut props: std::collections::BTreeMap<String, String> = [
            ("bootstrap.servers", broker.bootstrap_servers()),
            (
                "key.converter",
                "org.apache.kafka.connect.storage.StringConverter".into(),
            ),
            (
                "value.converter",
                "org.apache.kafka.connect.storage.StringConverter".into(),
            ),
            (
                "header.converter",
                "org.apache.kafka.connect.storage.StringConverter".into(),
            ),
            (
                "offset.storage.file.filename",
                dir.path().join("connect.offsets").display().to_string(),
            ),
            ("offset.flush.interval.ms", "500".into()),
            ("listeners", "http://127.0.0.1:0".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (k, v) in extra {
            props.insert(k.to_string(), v.to_string());
        }
        let config = WorkerConfig::new(props)?;
        let providers = ConfigProviders::from_worker(&config)?;
        let worker = Worker::new(config.clone(), Arc::new(StatusStore::new())).await?;
        let herder = Herder::new(worker, providers);
        let server = RestServer::start(herder.clone(), &config, None).await?;
        Ok(Connect {
            herder,
            server,
            broker,
            client: reqwest::Client::new(),
            dir,
        })
    }

    async fn stop(self) {
        self.server.shutdown().await;
        self.herder.shutdown().await;
        self.broker.shutdown().await;
    }

    fn file(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> TestResult<Answer> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.server.base_url()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        };
        Ok(Answer {
            status,
            body,
            headers,
        })
    }

    async fn get(&self, path: &str) -> TestResult<Answer> {
        self.call(Method::GET, path, None).await
    }

    /// Polls `GET path` until `check` accepts the body; fails after a deadline.
    async fn until(&self, path: &str, check: impl Fn(&Value) -> bool) -> TestResult<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let answer = self.get(path).await?;
            if check(&answer.body) {
                return Ok(answer.body);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{path} never matched: {}",
                answer.body
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Removes a status entry's `counters` object, checking it names the six counters.
fn take_counters(entry: &mut Value) -> TestResult<Value> {
    let counters = entry
        .as_object_mut()
        .and_then(|entry| entry.remove("counters"))
        .ok_or_else(|| anyhow::anyhow!("no counters in the status entry"))?;
    let names: Vec<&str> = counters
        .as_object()
        .ok_or_else(|| anyhow::anyhow!("counters is not an object"))?
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        names,
        [
            "accepted",
            "delivered",
            "retried",
            "expired",
            "dlq",
            "failed"
        ]
    );
    Ok(counters)
}

fn error(status: u16, message: &str) -> Value {
    json!({"error_code": status, "message": message})
}

fn source_config(connect: &Connect, topic: &str) -> Value {
    json!({
        "connector.class": "FileStreamSource",
        "tasks.max": "1",
        "file": connect.file("input.txt"),
        "topic": topic,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_rest_errors_paths_methods_and_bodies() -> TestResult {
    let _watchdog = watchdog::guard();
    let connect = Connect::start(&[]).await?;
    let answer = connect.get("/no/such/path").await?;
    assert_eq!(
        (answer.status, answer.body),
        (404, error(404, "HTTP 404 Not Found"))
    );
    let answer = connect
        .call(Method::DELETE, "/connector-plugins", None)
        .await?;
    assert_eq!(
        (answer.status, answer.body),
        (405, error(405, "HTTP 405 Method Not Allowed"))
    );
    let answer = connect.get("/connectors/x/tasks/notanumber/status").await?;
    assert_eq!(answer.status, 404);

    let base = connect.server.base_url().to_string();
    let response = connect
        .client
        .post(format!("{base}/connectors"))
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 415);
    let body: Value = response.json().await?;
    assert_eq!(body["error_code"], 415);
    let response = connect
        .client
        .post(format!("{base}/connectors"))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 400);
    // No content type: accepted as JSON.
    let response = connect
        .client
        .put(format!("{base}/connectors/x/config"))
        .body(r#"{"name":"y"}"#)
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await?;
    assert_eq!(
        body,
        error(
            400,
            "Connector name configuration (y) doesn't match connector name in the URL (x)"
        )
    );
    let answer = connect
        .call(
            Method::POST,
            "/connectors",
            Some(json!({"name": "c", "config": {"tasks.max": 1}})),
        )
        .await?;
    assert_eq!(
        (answer.status, answer.body),
        (
            400,
            error(
                400,
                "Connector config {name=c, tasks.max=1} contains no connector type"
            )
        )
    );
    let answer = connect
        .call(
            Method::POST,
            "/connectors",
            Some(json!({"name": "c", "config": {"connector.class": "NoSuchConnector"}})),
        )
        .await?;
    assert_eq!(answer.status, 500);
    let answer = connect
        .call(
            Method::PUT,
            "/connectors/c/config",
            Some(json!({"connector.class": "FileStreamSource", "nested": {"a": 1}})),
        )
        .await?;
    assert_eq!(answer.status, 400);
    connect.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_rest_loggers() -> TestResult {
    let _watchdog = watchdog::guard();
    let connect = Connect::start(&[]).await?;
    let answer = connect.get("/admin/loggers").await?;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body,
        json!({"root": {"level": "INFO", "last_modified": null}})
    );
    let answer = connect.get("/admin/loggers/org.example").await?;
    assert_eq!(
        (answer.status, answer.body),
        (404, error(404, "Logger org.example not found."))
    );
    let answer = connect
        .call(
            Method::PUT,
            "/admin/loggers/org.example",
            Some(json!({"level": "debug"})),
        )
        .await?;
    assert_eq!((answer.status, answer.body), (200, json!(["org.example"])));
    let answer = connect.get("/admin/loggers/org.example").await?;
    assert_eq!(answer.body["level"], "DEBUG");
    assert!(answer.body["last_modified"]
        .as_i64()
        .is_some_and(|ms| ms > 0));
    let answer = connect
        .call(
            Method::PUT,
            "/admin/loggers/org.example.child",
            Some(json!({"level": "TRACE"})),
        )
        .await?;
    assert_eq!(answer.body, json!(["org.example.child"]));
    let answer = connect
        .call(
            Method::PUT,
            "/admin/loggers/org.example",
            Some(json!({"level": "WARN"})),
        )
        .await?;
    assert_eq!(answer.body, json!(["org.example", "org.example.child"]));
    let answer = connect
        .call(
            Method::PUT,
            "/admin/loggers/org.example?scope=cluster",
            Some(json!({"level": "INFO"})),
        )
        .await?;
    assert_eq!(answer.status, 204);
    let answer = connect
        .call(
            Method::PUT,
            "/admin/loggers/org.example",
            Some(json!({"lvl": "INFO"})),
        )
        .await?;
    assert_eq!(
        (answer.status, answer.body),
        (
            400,
            error(
                400,
                "Desired 'level' parameter was not specified in request."
            )
        )
    );
    let answer = connect
        .call(
            Method::PUT,
            "/admin/loggers/org.example",
            Some(json!({"level": "LOUD"})),
        )
        .await?;
    assert_eq!(
        (answer.status, answer.body),
        (404, error(404, "invalid log level 'LOUD'."))
    );
    let answer = connect.get("/admin/loggers").await?;
    let names: Vec<&String> = answer
        .body
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert_eq!(names, vec!["org.example", "org.example.child", "root"]);
    connect.stop().await;
    Ok(())
}

/// Needs the runtime's FileStream connectors and `Worker::kafka_cluster_id` (i16-runtime).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_rest_server_info_and_plugins() -> TestResult {
    let _watchdog = watchdog::guard();
    let connect = Connect::start(&[]).await?;
    let answer = connect.get("/").await?;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body["version"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.7.0-josefine-")));
    assert!(answer.body["kafka_cluster_id"]
        .as_str()
        .is_some_and(|id| !id.is_empty()));

    let answer = connect.get("/connector-plugins").await?;
    assert_eq!(answer.status, 200);
    let plugins = answer.body.as_array().cloned().unwrap_or_default();
    assert!(plugins.contains(&json!({"class": "org.apache.kafka.connect.file.FileStreamSinkConnector", "type": "sink", "version": "3.7.0"})));
    assert!(plugins.contains(&json!({"class": "org.apache.kafka.connect.file.FileStreamSourceConnector", "type": "source", "version": "3.7.0"})));
    assert!(plugins
        .iter()
        .all(|p| p["type"] == "sink" || p["type"] == "source"));
    let all = connect
        .get("/connector-plugins?connectorsOnly=false")
        .await?;
    assert!(all
        .body
        .as_array()
        .is_some_and(|a| a.len() >= plugins.len()));

    let answer = connect
        .get("/connector-plugins/FileStreamSink/config")
        .await?;
    assert_eq!(answer.status, 200);
    let names: Vec<&str> = answer
        .body
        .as_array()
        .map(|keys| keys.iter().filter_map(|k| k["name"].as_str()).collect())
        .unwrap_or_default();
    let file = names.iter().position(|n| *n == "file");
    let class = names.iter().position(|n| *n == "connector.class");
    assert!(
        file.is_some() && class.is_some() && file < class,
        "{names:?}"
    );
    let answer = connect.get("/connector-plugins/Nope/config").await?;
    assert_eq!(
        (answer.status, answer.body),
        (404, error(404, "Unknown plugin Nope."))
    );

    // R24: a sink without topics, a mismatching class, and a null value.
    let answer = connect
        .call(
            Method::PUT,
            "/connector-plugins/FileStreamSink/config/validate",
            Some(json!({"connector.class": "FileStreamSink", "name": "s", "x": null})),
        )
        .await?;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["name"], "FileStreamSink");
    assert_eq!(answer.body["error_count"], 3, "{}", answer.body);
    let groups = answer.body["groups"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(groups.contains(&json!("Common")) && groups.contains(&json!("Error Handling")));
    let topics = answer.body["configs"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["value"]["name"] == "topics"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        topics["value"]["errors"],
        json!(["Must configure one of topics or topics.regex"])
    );
    assert_eq!(topics["definition"]["group"], "Common");
    let answer = connect
        .call(
            Method::PUT,
            "/connector-plugins/FileStreamSink/config/validate",
            Some(json!({"connector.class": "FileStreamSource"})),
        )
        .await?;
    assert_eq!(
        (answer.status, answer.body),
        (400, error(400, "Included connector type FileStreamSource does not match request type FileStreamSink"))
    );
    let answer = connect
        .call(Method::POST, "/connectors", Some(json!({"name": "bad", "config": {"connector.class": "FileStreamSink", "topics": "a", "topics.regex": "b"}})))
        .await?;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.body["message"],
        "Connector configuration is invalid and contains the following 2 error(s):\ntopics and topics.regex are mutually exclusive options, but both are set.\ntopics and topics.regex are mutually exclusive options, but both are set.\nYou can also find the above list of errors at the endpoint `/connector-plugins/{connectorType}/config/validate`"
    );
    connect.stop().await;
    Ok(())
}

/// Needs the runtime's FileStream connectors and task loops (i16-runtime).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_rest_connector_lifecycle() -> TestResult {
    let _watchdog = watchdog::guard();
    let connect = Connect::start(&[]).await?;
    std::fs::write(connect.file("input.txt"), "one\ntwo\n")?;
    let config = source_config(&connect, "lines");
    let answer = connect
        .call(
            Method::POST,
            "/connectors",
            Some(json!({"name": " src ", "config": config})),
        )
        .await?;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(
        answer.headers.get("location").and_then(|l| l.to_str().ok()),
        Some(format!("{}/connectors/src", connect.server.base_url()).as_str())
    );
    let mut expected_config = config.clone();
    expected_config["name"] = json!("src");
    assert_eq!(
        answer.body,
        json!({"name": "src", "config": expected_config, "tasks": [{"connector": "src", "task": 0}], "type": "source"})
    );
    let answer = connect
        .call(
            Method::POST,
            "/connectors",
            Some(json!({"name": "src", "config": config})),
        )
        .await?;
    assert_eq!(
        (answer.status, answer.body),
        (409, error(409, "Connector src already exists"))
    );

    assert_eq!(connect.get("/connectors").await?.body, json!(["src"]));
    let expanded = connect
        .get("/connectors?expand=info&expand=status&expand=bogus")
        .await?;
    assert_eq!(expanded.body["src"]["info"]["name"], "src");
    assert_eq!(expanded.body["src"]["status"]["type"], "source");
    assert_eq!(connect.get("/connectors/src").await?.body["type"], "source");
    assert_eq!(
        connect.get("/connectors/src/config").await?.body,
        expected_config
    );
    let answer = connect.get("/connectors/nope").await?;
    assert_eq!(
        (answer.status, answer.body),
        (404, error(404, "Connector nope not found"))
    );
    let answer = connect.get("/connectors/nope/status").await?;
    assert_eq!(
        (answer.status, answer.body),
        (404, error(404, "No status found for connector nope"))
    );

    let worker_id = connect.server.local_addr().to_string();
    let mut status = connect
        .until("/connectors/src/status", |s| {
            s["tasks"][0]["state"] == "RUNNING"
        })
        .await?;
    // Record counters (CONNECT.md g.0): per task, and their sum for the connector.
    let task_counters = take_counters(&mut status["tasks"][0])?;
    let connector_counters = take_counters(&mut status["connector"])?;
    assert_eq!(task_counters, connector_counters);
    assert_eq!(
        status,
        json!({"name": "src", "connector": {"state": "RUNNING", "worker_id": worker_id},
               "tasks": [{"id": 0, "state": "RUNNING", "worker_id": worker_id}], "type": "source"})
    );
    let tasks = connect.get("/connectors/src/tasks").await?;
    assert_eq!(tasks.body[0]["id"], json!({"connector": "src", "task": 0}));
    let tasks_config = connect.get("/connectors/src/tasks-config").await?;
    assert!(tasks_config.body["src-0"].is_object());
    let mut task = connect.get("/connectors/src/tasks/0/status").await?;
    take_counters(&mut task.body)?;
    assert_eq!(
        task.body,
        json!({"id": 0, "state": "RUNNING", "worker_id": worker_id})
    );
    let answer = connect.get("/connectors/src/tasks/7/status").await?;
    assert_eq!(
        (answer.status, answer.body),
        (404, error(404, "No status found for task src-7"))
    );

    // Target states.
    assert_eq!(
        connect
            .call(Method::PUT, "/connectors/src/pause", None)
            .await?
            .status,
        202
    );
    assert_eq!(
        connect
            .call(Method::PUT, "/connectors/src/pause", None)
            .await?
            .status,
        202
    );
    connect
        .until("/connectors/src/status", |s| {
            s["connector"]["state"] == "PAUSED"
        })
        .await?;
    assert_eq!(
        connect
            .call(Method::PUT, "/connectors/src/resume", None)
            .await?
            .status,
        202
    );
    connect
        .until("/connectors/src/status", |s| {
            s["connector"]["state"] == "RUNNING"
        })
        .await?;
    assert_eq!(
        connect
            .call(Method::PUT, "/connectors/src/stop", None)
            .await?
            .status,
        204
    );
    let stopped = connect.get("/connectors/src/status").await?;
    assert_eq!(stopped.body["connector"]["state"], "STOPPED");
    assert_eq!(stopped.body["tasks"], json!([]));
    assert_eq!(connect.get("/connectors/src/tasks").await?.body, json!([]));
    assert_eq!(
        connect
            .call(Method::PUT, "/connectors/src/resume", None)
            .await?
            .status,
        202
    );
    connect
        .until("/connectors/src/status", |s| {
            s["tasks"][0]["state"] == "RUNNING"
        })
        .await?;
    for path in [
        "/connectors/nope/pause",
        "/connectors/nope/resume",
        "/connectors/nope/stop",
    ] {
        let answer = connect.call(Method::PUT, path, None).await?;
        assert_eq!(
            (answer.status, answer.body),
            (404, error(404, "Unknown connector nope"))
        );
    }

    // Restarts.
    assert_eq!(
        connect
            .call(Method::POST, "/connectors/src/restart", None)
            .await?
            .status,
        204
    );
    let answer = connect
        .call(
            Method::POST,
            "/connectors/src/restart?includeTasks=true",
            None,
        )
        .await?;
    assert_eq!(answer.status, 202);
    assert_eq!(answer.body["connector"]["state"], "RESTARTING");
    assert_eq!(answer.body["tasks"][0]["state"], "RESTARTING");
    let answer = connect
        .call(
            Method::POST,
            "/connectors/src/restart?includeTasks=true&onlyFailed=true",
            None,
        )
        .await?;
    assert_eq!(answer.status, 202);
    assert_eq!(answer.body["connector"]["state"], "RUNNING");
    let answer = connect
        .call(Method::POST, "/connectors/nope/restart", None)
        .await?;
    assert_eq!(
        (answer.status, answer.body),
        (404, error(404, "Connector nope not found"))
    );
    let answer = connect
        .call(
            Method::POST,
            "/connectors/nope/restart?onlyFailed=true",
            None,
        )
        .await?;
    assert_eq!(
        (answer.status, answer.body),
        (404, error(404, "Unknown connector: nope"))
    );
    connect
        .until("/connectors/src/status", |s| {
            s["tasks"][0]["state"] == "RUNNING"
        })
        .await?;
    assert_eq!(
        connect
            .call(Method::POST, "/connectors/src/tasks/0/restart", None)
            .await?
            .status,
        204
    );
    let answer = connect
        .call(Method::POST, "/connectors/src/tasks/3/restart", None)
        .await?;
    assert_eq!(
        (answer.status, answer.body),
        (404, error(404, "Task src-3 not found"))
    );

    // R6: replace (200) and create (201 + Location).
    let mut replaced = config.clone();
    replaced["topic"] = json!("other");
    let answer = connect
        .call(
            Method::PUT,
            "/connectors/src/config",
            Some(replaced.clone()),
        )
        .await?;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["config"]["topic"], "other");
    let answer = connect.call(Method::PUT, "/connectors/src2/config", Some(json!({"connector.class": "FileStreamSource", "file": connect.file("input.txt"), "topic": "t2", "tasks.max": 1}))).await?;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert!(answer.headers.get("location").is_some());
    assert_eq!(answer.body["config"]["tasks.max"], "1");

    // Initial states.
    let answer = connect
        .call(Method::POST, "/connectors", Some(json!({"name": "paused", "config": source_config(&connect, "p"), "initial_state": "paused"})))
        .await?;
    assert_eq!(answer.status, 201);
    connect
        .until("/connectors/paused/status", |s| {
            s["connector"]["state"] == "PAUSED"
        })
        .await?;
    let answer = connect
        .call(Method::POST, "/connectors", Some(json!({"name": "stopped", "config": source_config(&connect, "s"), "initial_state": "STOPPED"})))
        .await?;
    assert_eq!(answer.status, 201);
    assert_eq!(answer.body["tasks"], json!([]));
    assert_eq!(
        connect.get("/connectors/stopped/status").await?.body["connector"]["state"],
        "STOPPED"
    );

    // R16.
    assert_eq!(
        connect
            .call(Method::DELETE, "/connectors/src2", None)
            .await?
            .status,
        204
    );
    let answer = connect
        .call(Method::DELETE, "/connectors/src2", None)
        .await?;
    assert_eq!(
        (answer.status, answer.body),
        (404, error(404, "Connector src2 not found"))
    );
    assert_eq!(
        connect.get("/connectors").await?.body,
        json!(["paused", "src", "stopped"])
    );
    connect.stop().await;
    Ok(())
}

/// Needs the runtime's FileStream connectors, offsets store and topic tracking (i16-runtime).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_rest_offsets_and_topics() -> TestResult {
    let _watchdog = watchdog::guard();
    let connect = Connect::start(&[]).await?;
    let input = connect.file("input.txt");
    std::fs::write(&input, "hello\nworld\n")?;
    let answer = connect
        .call(
            Method::POST,
            "/connectors",
            Some(json!({"name": "src", "config": source_config(&connect, "lines")})),
        )
        .await?;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let topics = connect
        .until("/connectors/src/topics", |t| {
            t["src"]["topics"] == json!(["lines"])
        })
        .await?;
    assert_eq!(topics, json!({"src": {"topics": ["lines"]}}));
    assert_eq!(
        connect.get("/connectors/unknown/topics").await?.body,
        json!({"unknown": {"topics": []}})
    );
    let offsets = connect
        .until("/connectors/src/offsets", |o| {
            o["offsets"][0]["offset"]["position"] == 12
        })
        .await?;
    assert_eq!(
        offsets,
        json!({"offsets": [{"partition": {"filename": input}, "offset": {"position": 12}}]})
    );

    let not_stopped = "Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/src/stop' endpoint";
    let body = json!({"offsets": [{"partition": {"filename": input}, "offset": {"position": 6}}]});
    let answer = connect
        .call(Method::PATCH, "/connectors/src/offsets", Some(body.clone()))
        .await?;
    assert_eq!((answer.status, answer.body), (400, error(400, not_stopped)));
    let answer = connect
        .call(Method::DELETE, "/connectors/src/offsets", None)
        .await?;
    assert_eq!((answer.status, answer.body), (400, error(400, not_stopped)));
    let answer = connect
        .call(
            Method::PATCH,
            "/connectors/src/offsets",
            Some(json!({"offsets": []})),
        )
        .await?;
    assert_eq!(
        (answer.status, answer.body),
        (
            400,
            error(
                400,
                "Partitions / offsets need to be provided for an alter offsets request"
            )
        )
    );
    assert_eq!(
        connect
            .call(Method::PUT, "/connectors/src/stop", None)
            .await?
            .status,
        204
    );
    let answer = connect
        .call(Method::PATCH, "/connectors/src/offsets", Some(body))
        .await?;
    assert_eq!(
        (answer.status, answer.body),
        (
            200,
            json!({"message": "The offsets for this connector have been altered successfully"})
        )
    );
    let offsets = connect.get("/connectors/src/offsets").await?;
    assert_eq!(offsets.body["offsets"][0]["offset"], json!({"position": 6}));
    let answer = connect
        .call(Method::DELETE, "/connectors/src/offsets", None)
        .await?;
    assert_eq!(
        (answer.status, answer.body),
        (
            200,
            json!({"message": "The offsets for this connector have been reset successfully"})
        )
    );
    assert_eq!(
        connect.get("/connectors/src/offsets").await?.body,
        json!({"offsets": []})
    );
    let answer = connect.get("/connectors/nope/offsets").await?;
    assert_eq!(
        (answer.status, answer.body),
        (404, error(404, "Connector nope not found"))
    );

    assert_eq!(
        connect
            .call(Method::PUT, "/connectors/src/topics/reset", None)
            .await?
            .status,
        202
    );
    assert_eq!(
        connect.get("/connectors/src/topics").await?.body,
        json!({"src": {"topics": []}})
    );
    connect.stop().await;

    let connect = Connect::start(&[("topic.tracking.allow.reset", "false")]).await?;
    let answer = connect
        .call(Method::PUT, "/connectors/src/topics/reset", None)
        .await?;
    assert_eq!(
        (answer.status, answer.body),
        (403, error(403, "Topic tracking reset is disabled."))
    );
    connect.stop().await;
    let connect = Connect::start(&[("topic.tracking.enable", "false")]).await?;
    let answer = connect.get("/connectors/src/topics").await?;
    assert_eq!(
        (answer.status, answer.body),
        (403, error(403, "Topic tracking is disabled."))
    );
    connect.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_rest_cors_when_an_origin_is_allowed() -> TestResult {
    let _watchdog = watchdog::guard();
    let connect = Connect::start(&[("access.control.allow.origin", "http://ui.example")]).await?;
    let url = format!("{}/connectors", connect.server.base_url());
    let answer = connect
        .client
        .get(&url)
        .header("Origin", "http://ui.example")
        .send()
        .await?;
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(
        answer
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("http://ui.example")
    );
    let preflight = connect
        .client
        .request(Method::OPTIONS, &url)
        .header("Origin", "http://ui.example")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await?;
    assert_eq!(preflight.status().as_u16(), 200);
    assert!(preflight
        .headers()
        .contains_key("access-control-allow-methods"));
    let other = connect
        .client
        .get(&url)
        .header("Origin", "http://evil.example")
        .send()
        .await?;
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    connect.stop().await;

    // CORS off by default.
    let connect = Connect::start(&[]).await?;
    let answer = connect
        .client
        .get(format!("{}/connectors", connect.server.base_url()))
        .header("Origin", "http://ui.example")
        .send()
        .await?;
    assert!(!answer.headers().contains_key("access-control-allow-origin"));
    connect.stop().await;
    Ok(())
}
