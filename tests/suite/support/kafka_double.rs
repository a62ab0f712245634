//! A protocol-level Kafka test double with an authorizer: a TCP server on 127.0.0.1 that answers
//! ApiVersions, Metadata, DescribeAcls, CreateAcls, DeleteAcls, CreateTopics and DescribeConfigs as the Kafka protocol
//! specifies (messages encoded and decoded by the `kafka-protocol` crate), keeps ACL bindings and topics in
//! memory, and counts the requests it gets. No broker here has an authorizer; this is what falconer's ACL
//! requests are verified against.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, CreateAclsResponse, CreateTopicsResponse,
    DeleteAclsResponse, DescribeAclsResponse, DescribeConfigsResponse, MetadataResponse,
    RequestKind, ResponseHeader, ResponseKind, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes, decode_request_header_from_buffer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One ACL binding, in the protocol's numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub resource_type: i8,
    pub name: String,
    pub pattern: i8,
    pub principal: String,
    pub host: String,
    pub operation: i8,
    pub permission: i8,
}

#[derive(Debug, Default)]
pub struct State {
    pub acls: Vec<Binding>,
    /// Topics created: partition count and the configs set on them.
    pub topics: BTreeMap<String, (i32, BTreeMap<String, String>)>,
    /// Requests by API name.
    pub requests: BTreeMap<String, usize>,
    /// Requests (by API name) to answer by closing the connection instead, and how many more times.
    pub cut: BTreeMap<String, usize>,
}

pub struct KafkaDouble {
    pub bootstrap: String,
    pub state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for KafkaDouble {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const SUPPORTED: &[ApiKey] = &[
    ApiKey::ApiVersions,
    ApiKey::Metadata,
    ApiKey::DescribeAcls,
    ApiKey::CreateAcls,
    ApiKey::DeleteAcls,
    ApiKey::CreateTopics,
    ApiKey::DescribeConfigs,
];

impl KafkaDouble {
    pub async fn start() -> KafkaDouble {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let port = listener.local_addr().expect("address").port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let _ = serve(conn, state, port).await;
                });
            }
        });
        KafkaDouble {
            bootstrap: format!("127.0.0.1:{port}"),
            state,
            task,
        }
    }

    pub fn count(&self, api: &str) -> usize {
        self.state
            .lock()
            .expect("state")
            .requests
            .get(api)
            .copied()
            .unwrap_or(0)
    }
}

async fn serve(mut conn: TcpStream, state: Arc<Mutex<State>>, port: u16) -> anyhow_like::Result {
    loop {
        let len = match conn.read_i32().await {
            Ok(n) => n as usize,
            Err(_) => return Ok(()),
        };
        let mut frame = vec![0u8; len];
        conn.read_exact(&mut frame).await?;
        let mut buf = Bytes::from(frame);
        let header = decode_request_header_from_buffer(&mut buf).map_err(anyhow_like::other)?;
        let api =
            ApiKey::try_from(header.request_api_key).map_err(|_| anyhow_like::msg("api key"))?;
        let version = header.request_api_version;
        {
            let mut s = state.lock().expect("state");
            *s.requests.entry(format!("{api:?}")).or_default() += 1;
            if let Some(n) = s.cut.get_mut(&format!("{api:?}")).filter(|n| **n > 0) {
                // The connection lost in the middle of a request: no answer.
                *n -= 1;
                return Ok(());
            }
        }
        let (response, version) = if api == ApiKey::ApiVersions
            && !(api.valid_versions().min..=api.valid_versions().max).contains(&version)
        {
            // A newer ApiVersions than this double knows: answer in v0 with UNSUPPORTED_VERSION, as brokers do.
            let mut r = api_versions();
            r.error_code = 35;
            (ResponseKind::ApiVersions(r), 0)
        } else {
            let request =
                RequestKind::decode(api, &mut buf, version).map_err(anyhow_like::other)?;
            (respond(request, &state, port), version)
        };
        let mut out = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(header.correlation_id)
            .encode(&mut out, api.response_header_version(version))
            .map_err(anyhow_like::other)?;
        response
            .encode(&mut out, version)
            .map_err(anyhow_like::other)?;
        let mut framed = BytesMut::with_capacity(out.len() + 4);
        framed.put_i32(out.len() as i32);
        framed.put(out);
        conn.write_all(&framed).await?;
        let _ = buf.remaining();
    }
}

fn api_versions() -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(
        SUPPORTED
            .iter()
            .map(|k| {
                let v = k.valid_versions();
                ApiVersion::default()
                    .with_api_key(*k as i16)
                    .with_min_version(v.min)
                    .with_max_version(v.max)
            })
            .collect(),
    )
}

fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.to_string())
}

/// Whether a binding matches a filter (1 = ANY; pattern 2 = MATCH is taken as ANY here).
#[allow(clippy::too_many_arguments)]
fn matches(
    b: &Binding,
    rt: i8,
    name: Option<&str>,
    pattern: i8,
    principal: Option<&str>,
    host: Option<&str>,
    op: i8,
    perm: i8,
) -> bool {
    (rt == 1 || rt == b.resource_type)
        && name.is_none_or(|n| n == b.name)
        && (pattern == 1 || pattern == 2 || pattern == b.pattern)
        && principal.is_none_or(|p| p == b.principal)
        && host.is_none_or(|h| h == b.host)
        && (op == 1 || op == b.operation)
        && (perm == 1 || perm == b.permission)
}

fn respond(request: RequestKind, state: &Mutex<State>, port: u16) -> ResponseKind {
    let mut st = state.lock().expect("state");
    match request {
        RequestKind::ApiVersions(_) => ResponseKind::ApiVersions(api_versions()),
        RequestKind::Metadata(req) => {
            let wanted: Option<Vec<String>> = req.topics.map(|ts| {
                ts.into_iter()
                    .filter_map(|t| t.name.map(|n| n.to_string()))
                    .collect()
            });
            let names: Vec<String> = match &wanted {
                Some(w) => w.clone(),
                None => st.topics.keys().cloned().collect(),
            };
            let topics = names
                .iter()
                .map(|n| match st.topics.get(n) {
                    Some((parts, _)) => MetadataResponseTopic::default()
                        .with_name(Some(TopicName(s(n))))
                        .with_partitions(
                            (0..*parts)
                                .map(|i| {
                                    MetadataResponsePartition::default()
                                        .with_partition_index(i)
                                        .with_leader_id(BrokerId(1))
                                        .with_replica_nodes(vec![BrokerId(1)])
                                        .with_isr_nodes(vec![BrokerId(1)])
                                })
                                .collect(),
                        ),
                    None => MetadataResponseTopic::default()
                        .with_name(Some(TopicName(s(n))))
                        .with_error_code(3),
                })
                .collect();
            ResponseKind::Metadata(
                MetadataResponse::default()
                    .with_brokers(vec![
                        MetadataResponseBroker::default()
                            .with_node_id(BrokerId(1))
                            .with_host(s("127.0.0.1"))
                            .with_port(i32::from(port)),
                    ])
                    .with_cluster_id(Some(s("falconer-double")))
                    .with_controller_id(BrokerId(1))
                    .with_topics(topics),
            )
        }
        RequestKind::DescribeAcls(req) => {
            let mut resources: Vec<DescribeAclsResource> = Vec::new();
            for b in st.acls.iter().filter(|b| {
                matches(
                    b,
                    req.resource_type_filter,
                    req.resource_name_filter.as_deref(),
                    req.pattern_type_filter,
                    req.principal_filter.as_deref(),
                    req.host_filter.as_deref(),
                    req.operation,
                    req.permission_type,
                )
            }) {
                let acl = AclDescription::default()
                    .with_principal(s(&b.principal))
                    .with_host(s(&b.host))
                    .with_operation(b.operation)
                    .with_permission_type(b.permission);
                match resources.iter_mut().find(|r| {
                    r.resource_type == b.resource_type
                        && *r.resource_name == *b.name
                        && r.pattern_type == b.pattern
                }) {
                    Some(r) => r.acls.push(acl),
                    None => resources.push(
                        DescribeAclsResource::default()
                            .with_resource_type(b.resource_type)
                            .with_resource_name(s(&b.name))
                            .with_pattern_type(b.pattern)
                            .with_acls(vec![acl]),
                    ),
                }
            }
            ResponseKind::DescribeAcls(DescribeAclsResponse::default().with_resources(resources))
        }
        RequestKind::CreateAcls(req) => {
            let results = req
                .creations
                .iter()
                .map(|c| {
                    let b = Binding {
                        resource_type: c.resource_type,
                        name: c.resource_name.to_string(),
                        pattern: c.resource_pattern_type,
                        principal: c.principal.to_string(),
                        host: c.host.to_string(),
                        operation: c.operation,
                        permission: c.permission_type,
                    };
                    if !st.acls.contains(&b) {
                        st.acls.push(b);
                    }
                    AclCreationResult::default()
                })
                .collect();
            ResponseKind::CreateAcls(CreateAclsResponse::default().with_results(results))
        }
        RequestKind::DeleteAcls(req) => {
            let filter_results = req
                .filters
                .iter()
                .map(|f| {
                    let (gone, kept): (Vec<Binding>, Vec<Binding>) =
                        st.acls.drain(..).partition(|b| {
                            matches(
                                b,
                                f.resource_type_filter,
                                f.resource_name_filter.as_deref(),
                                f.pattern_type_filter,
                                f.principal_filter.as_deref(),
                                f.host_filter.as_deref(),
                                f.operation,
                                f.permission_type,
                            )
                        });
                    st.acls = kept;
                    DeleteAclsFilterResult::default().with_matching_acls(
                        gone.iter()
                            .map(|b| {
                                DeleteAclsMatchingAcl::default()
                                    .with_resource_type(b.resource_type)
                                    .with_resource_name(s(&b.name))
                                    .with_pattern_type(b.pattern)
                                    .with_principal(s(&b.principal))
                                    .with_host(s(&b.host))
                                    .with_operation(b.operation)
                                    .with_permission_type(b.permission)
                            })
                            .collect(),
                    )
                })
                .collect();
            ResponseKind::DeleteAcls(
                DeleteAclsResponse::default().with_filter_results(filter_results),
            )
        }
        RequestKind::CreateTopics(req) => {
            let topics = req
                .topics
                .iter()
                .map(|t| {
                    let configs = t
                        .configs
                        .iter()
                        .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
                        .collect();
                    st.topics
                        .insert(t.name.to_string(), (t.num_partitions, configs));
                    CreatableTopicResult::default()
                        .with_name(t.name.clone())
                        .with_num_partitions(t.num_partitions)
                        .with_replication_factor(t.replication_factor)
                })
                .collect();
            ResponseKind::CreateTopics(CreateTopicsResponse::default().with_topics(topics))
        }
        RequestKind::DescribeConfigs(req) => {
            let results = req
                .resources
                .iter()
                .map(|r| {
                    let base = DescribeConfigsResult::default()
                        .with_resource_type(r.resource_type)
                        .with_resource_name(r.resource_name.clone());
                    match st.topics.get(&r.resource_name.to_string()) {
                        // Source 1: DYNAMIC_TOPIC_CONFIG, set on the topic.
                        Some((_, configs)) => base.with_configs(
                            configs
                                .iter()
                                .map(|(k, v)| {
                                    DescribeConfigsResourceResult::default()
                                        .with_name(s(k))
                                        .with_value(Some(s(v)))
                                        .with_config_source(1)
                                })
                                .collect(),
                        ),
                        None => base.with_error_code(3),
                    }
                })
                .collect();
            ResponseKind::DescribeConfigs(DescribeConfigsResponse::default().with_results(results))
        }
        _ => unreachable!("only the advertised APIs are sent"),
    }
}

/// Just enough error plumbing for the serving loop (a broken connection ends it).
mod anyhow_like {
    pub type Result = std::result::Result<(), std::io::Error>;
    pub fn other(e: impl std::fmt::Display) -> std::io::Error {
        std::io::Error::other(e.to_string())
    }
    pub fn msg(m: &str) -> std::io::Error {
        std::io::Error::other(m.to_string())
    }
}
