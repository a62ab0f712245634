//! Kafka ACLs through librdkafka's ACL API (`rd_kafka_DescribeAcls`, `rd_kafka_CreateAcls`,
//! `rd_kafka_DeleteAcls` in `rdkafka-sys`; the `rdkafka` crate has none of them). A broker without an
//! authorizer answers SECURITY_DISABLED: that is [`AclError::NoAuthorizer`], said in words.

use std::ffi::CString;

use rdkafka_sys as sys;

use super::admin::{self, Admin, owned};
use super::{Acl, AclOperation, AclPermission, AclResource, PatternType};

/// The words for a broker without an authorizer.
pub const NO_AUTHORIZER: &str =
    "the broker has no authorizer; ACLs cannot be managed on this cluster";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AclError {
    #[error("{NO_AUTHORIZER} (SECURITY_DISABLED)")]
    NoAuthorizer,
    #[error("{0}")]
    Other(String),
    /// The connection to the broker was lost (a read may be sent again).
    #[error("{0}")]
    Lost(String),
}

const SECURITY_DISABLED: sys::rd_kafka_resp_err_t =
    sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_SECURITY_DISABLED;

/// A request's error, by its code.
fn classify(e: admin::RequestError) -> AclError {
    use sys::rd_kafka_resp_err_t as E;
    match e.code {
        Some(SECURITY_DISABLED) => AclError::NoAuthorizer,
        Some(
            E::RD_KAFKA_RESP_ERR__TRANSPORT
            | E::RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN
            | E::RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION,
        ) => AclError::Lost(e.message),
        _ => AclError::Other(e.message),
    }
}

fn restype(r: AclResource) -> sys::rd_kafka_ResourceType_t {
    use sys::rd_kafka_ResourceType_t as T;
    match r {
        AclResource::Topic => T::RD_KAFKA_RESOURCE_TOPIC,
        AclResource::Group => T::RD_KAFKA_RESOURCE_GROUP,
        AclResource::TransactionalId => T::RD_KAFKA_RESOURCE_TRANSACTIONAL_ID,
        // librdkafka calls Kafka's CLUSTER resource type (4) BROKER.
        AclResource::Cluster => T::RD_KAFKA_RESOURCE_BROKER,
    }
}

fn pattern(p: PatternType) -> sys::rd_kafka_ResourcePatternType_t {
    match p {
        PatternType::Literal => {
            sys::rd_kafka_ResourcePatternType_t::RD_KAFKA_RESOURCE_PATTERN_LITERAL
        }
        PatternType::Prefixed => {
            sys::rd_kafka_ResourcePatternType_t::RD_KAFKA_RESOURCE_PATTERN_PREFIXED
        }
    }
}

const OPERATIONS: &[(AclOperation, sys::rd_kafka_AclOperation_t)] = {
    use sys::rd_kafka_AclOperation_t as O;
    &[
        (AclOperation::All, O::RD_KAFKA_ACL_OPERATION_ALL),
        (AclOperation::Read, O::RD_KAFKA_ACL_OPERATION_READ),
        (AclOperation::Write, O::RD_KAFKA_ACL_OPERATION_WRITE),
        (AclOperation::Create, O::RD_KAFKA_ACL_OPERATION_CREATE),
        (AclOperation::Delete, O::RD_KAFKA_ACL_OPERATION_DELETE),
        (AclOperation::Alter, O::RD_KAFKA_ACL_OPERATION_ALTER),
        (AclOperation::Describe, O::RD_KAFKA_ACL_OPERATION_DESCRIBE),
        (
            AclOperation::ClusterAction,
            O::RD_KAFKA_ACL_OPERATION_CLUSTER_ACTION,
        ),
        (
            AclOperation::DescribeConfigs,
            O::RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS,
        ),
        (
            AclOperation::AlterConfigs,
            O::RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS,
        ),
        (
            AclOperation::IdempotentWrite,
            O::RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE,
        ),
    ]
};

fn permission(p: AclPermission) -> sys::rd_kafka_AclPermissionType_t {
    match p {
        AclPermission::Allow => {
            sys::rd_kafka_AclPermissionType_t::RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW
        }
        AclPermission::Deny => sys::rd_kafka_AclPermissionType_t::RD_KAFKA_ACL_PERMISSION_TYPE_DENY,
    }
}

fn c(s: &str) -> Result<CString, AclError> {
    CString::new(s).map_err(|_| AclError::Other(format!("{s:?} contains a NUL byte")))
}

/// An ACL as a librdkafka binding (a filter matching exactly it, for deletes); `None` for an operation
/// librdkafka does not know.
fn binding(a: &Acl, filter: bool) -> Result<*mut sys::rd_kafka_AclBinding_t, AclError> {
    let (name, principal, host) = (c(&a.resource_name)?, c(&a.principal)?, c(a.host())?);
    let op = OPERATIONS
        .iter()
        .find(|(o, _)| *o == a.operation)
        .map(|(_, x)| *x)
        .ok_or_else(|| {
            AclError::Other(format!(
                "operation {:?} is unknown to librdkafka",
                a.operation
            ))
        })?;
    let mut errbuf = [0 as std::ffi::c_char; 512];
    // SAFETY: valid C strings that outlive the call; librdkafka copies them.
    let b = unsafe {
        let new = if filter {
            sys::rd_kafka_AclBindingFilter_new
        } else {
            sys::rd_kafka_AclBinding_new
        };
        new(
            restype(a.resource_type),
            name.as_ptr(),
            pattern(a.pattern()),
            principal.as_ptr(),
            host.as_ptr(),
            op,
            permission(a.permission),
            errbuf.as_mut_ptr(),
            errbuf.len(),
        )
    };
    if b.is_null() {
        // SAFETY: librdkafka wrote a NUL-terminated message.
        return Err(AclError::Other(unsafe { owned(errbuf.as_ptr()) }));
    }
    Ok(b)
}

/// Every ACL of the cluster (one DescribeAcls with a filter that matches all).
/// Sent again when the connection to the broker was lost (librdkafka does not by itself).
pub async fn describe(admin: &Admin) -> Result<Vec<Acl>, AclError> {
    let once = || {
        let admin = admin.clone();
        async move {
            crate::util::blocking(move || describe_blocking(&admin))
                .await
                .map_err(|e| AclError::Other(e.to_string()))?
        }
    };
    let lost = |e: &AclError| matches!(e, AclError::Lost(_));
    crate::util::retry_read("Kafka", once, lost, || None).await
}

fn describe_blocking(admin: &Admin) -> Result<Vec<Acl>, AclError> {
    let mut errbuf = [0 as std::ffi::c_char; 512];
    // SAFETY: null strings mean "any"; the filter is destroyed below.
    let filter = unsafe {
        sys::rd_kafka_AclBindingFilter_new(
            sys::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_ANY,
            std::ptr::null(),
            sys::rd_kafka_ResourcePatternType_t::RD_KAFKA_RESOURCE_PATTERN_ANY,
            std::ptr::null(),
            std::ptr::null(),
            sys::rd_kafka_AclOperation_t::RD_KAFKA_ACL_OPERATION_ANY,
            sys::rd_kafka_AclPermissionType_t::RD_KAFKA_ACL_PERMISSION_TYPE_ANY,
            errbuf.as_mut_ptr(),
            errbuf.len(),
        )
    };
    if filter.is_null() {
        return Err(AclError::Other("cannot build an ACL filter".into()));
    }
    let ev = admin::request(
        admin,
        sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBEACLS,
        // SAFETY: a valid filter; librdkafka copies it.
        |rk, opts, q| unsafe { sys::rd_kafka_DescribeAcls(rk, filter, opts, q) },
    );
    // SAFETY: created above, destroyed once.
    unsafe { sys::rd_kafka_AclBinding_destroy(filter) };
    let ev = ev.map_err(classify)?;
    let mut out = Vec::new();
    // SAFETY: the event of this request; bindings are owned by the event, which outlives the loop.
    unsafe {
        let res = sys::rd_kafka_event_DescribeAcls_result(ev.0);
        if res.is_null() {
            return Err(AclError::Other(
                "an unexpected answer to DescribeAcls".into(),
            ));
        }
        let mut n = 0usize;
        let list = sys::rd_kafka_DescribeAcls_result_acls(res, &mut n);
        for i in 0..n {
            let b = *list.add(i);
            if let Some(acl) = read_binding(b) {
                out.push(acl);
            }
        }
    }
    Ok(out)
}

/// # Safety
/// `b` is a valid binding.
unsafe fn read_binding(b: *const sys::rd_kafka_AclBinding_t) -> Option<Acl> {
    use sys::rd_kafka_ResourceType_t as T;
    unsafe {
        let resource_type = match sys::rd_kafka_AclBinding_restype(b) {
            T::RD_KAFKA_RESOURCE_TOPIC => AclResource::Topic,
            T::RD_KAFKA_RESOURCE_GROUP => AclResource::Group,
            T::RD_KAFKA_RESOURCE_TRANSACTIONAL_ID => AclResource::TransactionalId,
            T::RD_KAFKA_RESOURCE_BROKER => AclResource::Cluster,
            _ => return None,
        };
        let pattern_type = match sys::rd_kafka_AclBinding_resource_pattern_type(b) {
            sys::rd_kafka_ResourcePatternType_t::RD_KAFKA_RESOURCE_PATTERN_PREFIXED => {
                Some(PatternType::Prefixed)
            }
            sys::rd_kafka_ResourcePatternType_t::RD_KAFKA_RESOURCE_PATTERN_LITERAL => None,
            _ => return None,
        };
        let op = sys::rd_kafka_AclBinding_operation(b);
        let operation = OPERATIONS.iter().find(|(_, x)| *x == op)?.0;
        let permission = match sys::rd_kafka_AclBinding_permission_type(b) {
            sys::rd_kafka_AclPermissionType_t::RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW => {
                AclPermission::Allow
            }
            sys::rd_kafka_AclPermissionType_t::RD_KAFKA_ACL_PERMISSION_TYPE_DENY => {
                AclPermission::Deny
            }
            _ => return None,
        };
        let host = owned(sys::rd_kafka_AclBinding_host(b));
        Some(Acl {
            resource_name: owned(sys::rd_kafka_AclBinding_name(b)),
            resource_type,
            pattern_type,
            principal: owned(sys::rd_kafka_AclBinding_principal(b)),
            host: (host != "*").then_some(host),
            operation,
            permission,
            depends_on: Vec::new(),
        })
    }
}

/// Creates ACLs in one CreateAcls request.
pub async fn create(admin: &Admin, acls: Vec<Acl>) -> Result<(), AclError> {
    if acls.is_empty() {
        return Ok(());
    }
    let admin = admin.clone();
    crate::util::blocking(move || change_blocking(&admin, &acls, false))
        .await
        .map_err(|e| AclError::Other(e.to_string()))?
}

/// Deletes ACLs (each by a filter matching exactly it) in one DeleteAcls request.
pub async fn delete(admin: &Admin, acls: Vec<Acl>) -> Result<(), AclError> {
    if acls.is_empty() {
        return Ok(());
    }
    let admin = admin.clone();
    crate::util::blocking(move || change_blocking(&admin, &acls, true))
        .await
        .map_err(|e| AclError::Other(e.to_string()))?
}

fn change_blocking(admin: &Admin, acls: &[Acl], deleting: bool) -> Result<(), AclError> {
    let mut bindings = Vec::with_capacity(acls.len());
    for a in acls {
        match binding(a, deleting) {
            Ok(b) => bindings.push(b),
            Err(e) => {
                for b in bindings {
                    // SAFETY: created above, destroyed once.
                    unsafe { sys::rd_kafka_AclBinding_destroy(b) };
                }
                return Err(e);
            }
        }
    }
    let op = if deleting {
        sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DELETEACLS
    } else {
        sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_CREATEACLS
    };
    let ev = admin::request(admin, op, |rk, opts, q| {
        // SAFETY: valid bindings; librdkafka copies them.
        unsafe {
            if deleting {
                sys::rd_kafka_DeleteAcls(rk, bindings.as_mut_ptr(), bindings.len(), opts, q)
            } else {
                sys::rd_kafka_CreateAcls(rk, bindings.as_mut_ptr(), bindings.len(), opts, q)
            }
        }
    });
    for b in &bindings {
        // SAFETY: created above, destroyed once.
        unsafe { sys::rd_kafka_AclBinding_destroy(*b) };
    }
    let ev = ev.map_err(classify)?;
    // SAFETY: the event of this request; results are owned by it.
    unsafe {
        let mut n = 0usize;
        let errors: Vec<*const sys::rd_kafka_error_t> = if deleting {
            let res = sys::rd_kafka_event_DeleteAcls_result(ev.0);
            let list = sys::rd_kafka_DeleteAcls_result_responses(res, &mut n);
            (0..n)
                .map(|i| sys::rd_kafka_DeleteAcls_result_response_error(*list.add(i)))
                .collect()
        } else {
            let res = sys::rd_kafka_event_CreateAcls_result(ev.0);
            let list = sys::rd_kafka_CreateAcls_result_acls(res, &mut n);
            (0..n)
                .map(|i| sys::rd_kafka_acl_result_error(*list.add(i)))
                .collect()
        };
        // Each ACL has its own result: every refusal is named, and so is what the request did carry out.
        let mut refused = Vec::new();
        let mut first = None;
        for (e, acl) in errors.into_iter().zip(acls) {
            if !e.is_null() {
                let err = sys::rd_kafka_error_code(e);
                first.get_or_insert(err);
                refused.push(format!(
                    "the ACL {} {:?} on {:?} {} ({}): {}",
                    acl.principal,
                    acl.operation,
                    acl.resource_type,
                    acl.resource_name,
                    owned(sys::rd_kafka_err2name(err)),
                    owned(sys::rd_kafka_error_string(e))
                ));
            }
        }
        if let Some(err) = first {
            let verb = if deleting { "deleted" } else { "created" };
            let message = format!(
                "Kafka refused {} of {} ACL change(s), the other {} were {verb}: {}",
                refused.len(),
                acls.len(),
                acls.len() - refused.len(),
                refused.join("; ")
            );
            return Err(classify(admin::RequestError {
                code: Some(err),
                message,
            }));
        }
    }
    Ok(())
}
