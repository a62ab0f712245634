//! `tenant set`: a tenant's status, environment and naming in the registry, each checked before anything is
//! written (a tenant id as manifests take it; an environment from the known set, with the closest named when
//! it is a near miss: `prodution` would otherwise turn the production guard off without a word).

use super::Error;
use super::live::Settings;
use crate::model::Scope;
use crate::state::State;

/// What to set; what is not given stays as the registry has it (a new tenant: `active`, no environment).
pub struct SetRequest {
    pub tenant: String,
    pub status: Option<String>,
    pub environment: Option<String>,
    /// Scopes whose names are declared, each replacing the remembered list.
    pub naming: Vec<(&'static Scope, Vec<String>)>,
}

/// The tenant as set.
pub struct Set {
    pub status: String,
    pub environment: String,
    /// The naming as JSON, when it was declared.
    pub naming: Option<String>,
}

/// Checks and writes a tenant's registry entry.
pub async fn set(settings: &Settings, state: &State, req: &SetRequest) -> Result<Set, Error> {
    crate::model::tenant::check_tenant_id(&req.tenant)
        .map_err(|why| Error::Other(format!("tenant {:?}: {why}", req.tenant)))?;
    if let Some(e) = &req.environment {
        known_environment(e, &settings.environments()?)?;
    }
    let known = state.registry().tenants(Some(&req.tenant)).await?;
    let (status, environment) = match known.first() {
        Some(r) => (r.status.clone(), r.environment.clone()),
        None => ("active".to_string(), String::new()),
    };
    let status = req.status.clone().unwrap_or(status);
    let environment = req.environment.clone().unwrap_or(environment);
    state
        .registry()
        .set_tenant(&req.tenant, &status, &environment)
        .await?;
    let mut naming = None;
    if !req.naming.is_empty() {
        let mut t = state.registry().registered(&req.tenant).await?;
        for (scope, names) in &req.naming {
            t.naming.set(scope, names.clone());
        }
        let text = serde_json::to_string(&t.naming).unwrap_or_default();
        state.registry().remember_naming(&req.tenant, &text).await?;
        naming = Some(text);
    }
    Ok(Set {
        status,
        environment,
        naming,
    })
}

/// An environment of the known set (empty clears it); else an error naming the set and the closest.
fn known_environment(given: &str, known: &[String]) -> Result<(), Error> {
    if given.is_empty() || known.iter().any(|k| k == given) {
        return Ok(());
    }
    let closest = known
        .iter()
        .map(|k| (strsim::levenshtein(k, given), k))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, k)| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default();
    Err(Error::Other(format!(
        "--environment {given:?} is not a known environment{closest}: the environments are {}; a profile lists its own with environments = [...]",
        known.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_near_miss_names_the_closest_and_an_empty_one_clears() {
        let known: Vec<String> = crate::profile::DEFAULT_ENVIRONMENTS
            .map(String::from)
            .to_vec();
        let e = known_environment("prodution", &known).expect_err("refused");
        assert!(e.to_string().contains("did you mean `production`"), "{e}");
        let far = known_environment("qa-east-7", &known).expect_err("refused");
        assert!(!far.to_string().contains("did you mean"), "{far}");
        assert!(known_environment("", &known).is_ok());
        assert!(known_environment("staging", &known).is_ok());
    }
}
