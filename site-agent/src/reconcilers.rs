//! The reconcilers a site runs. Adding a kind is one line here (and its module in its crate);
//! the agent knows nothing else about any of them.

use reconciler::Registration;

/// Every reconciler the site agent can run, in start order. The Docker reconciler is there when
/// the crate is built with its `docker` feature (the default).
pub fn registrations() -> Vec<Box<dyn Registration>> {
    vec![
        Box::new(reconciler::process::ProcessRegistration),
        #[cfg(feature = "docker")]
        Box::new(docker_reconciler::DockerRegistration),
        Box::new(reconciler::config_file::ConfigFileRegistration),
    ]
}

/// Whether this build has the Docker reconciler (cargo feature `docker`, the default).
const DOCKER_BUILT: bool = cfg!(feature = "docker");

/// A build without the `docker` feature still knows the `docker` section, so that one site
/// config serves both builds: mode `off`, or `auto` (run it when the Docker Engine answers: this
/// build never does), is accepted; `on` is refused, since the site could not honour it.
fn docker_left_out(settings: &serde_json::Value) -> Result<(), String> {
    match settings.get("mode").and_then(serde_json::Value::as_str) {
        None | Some("off" | "auto") => Ok(()),
        Some(_) => Err(
            "this maestro-site is built without the Docker reconciler (cargo feature `docker` \
             of site-agent); only mode \"off\" or \"auto\" is accepted"
                .to_string(),
        ),
    }
}

/// Checks the `reconcilers` section of the site config: every key names a reconciler and every
/// section is valid for it. The error names the key.
pub fn validate_settings(
    sections: &std::collections::BTreeMap<String, serde_json::Value>,
) -> Result<(), maestro_common::FieldError> {
    check_settings(sections, &registrations(), DOCKER_BUILT)
}

/// [`validate_settings`] against the reconcilers `all` of a build that has the Docker reconciler
/// or not (`docker_built`): both builds' rules are tested in either build.
fn check_settings(
    sections: &std::collections::BTreeMap<String, serde_json::Value>,
    all: &[Box<dyn Registration>],
    docker_built: bool,
) -> Result<(), maestro_common::FieldError> {
    for (name, settings) in sections {
        let field = format!("reconcilers.{name}");
        if name == "docker" && !docker_built {
            docker_left_out(settings)
                .map_err(|reason| maestro_common::FieldError::new(field, reason))?;
            continue;
        }
        let Some(r) = all.iter().find(|r| r.name() == name) else {
            let known: Vec<&str> = all.iter().map(|r| r.name()).collect();
            return Err(maestro_common::FieldError::new(
                field,
                format!("unknown reconciler; known: {}", known.join(", ")),
            ));
        };
        r.validate(settings)
            .map_err(|reason| maestro_common::FieldError::new(field, reason))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_and_executor_types_are_unique() {
        let all = registrations();
        let mut names: Vec<&str> = all.iter().map(|r| r.name()).collect();
        let mut types: Vec<&str> = all.iter().map(|r| r.executor_type()).collect();
        names.sort_unstable();
        names.dedup();
        types.sort_unstable();
        types.dedup();
        assert_eq!((names.len(), types.len()), (all.len(), all.len()));
    }

    #[test]
    fn the_docker_reconciler_is_registered_exactly_when_it_is_built() {
        let docker = registrations().iter().any(|r| r.name() == "docker");
        assert_eq!(docker, DOCKER_BUILT);
    }

    /// The rules of a build without the `docker` feature, checked in any build: its
    /// registrations are this build's without the Docker reconciler.
    #[test]
    fn without_docker_only_off_and_auto_are_accepted() {
        let lean: Vec<_> = registrations()
            .into_iter()
            .filter(|r| r.name() != "docker")
            .collect();
        for mode in ["off", "auto"] {
            let ok = [("docker".to_string(), json!({ "mode": mode }))].into();
            check_settings(&ok, &lean, false).unwrap();
        }
        let on = [("docker".to_string(), json!({"mode": "on"}))].into();
        let e = check_settings(&on, &lean, false).unwrap_err();
        assert_eq!(e.field, "reconcilers.docker");
        assert!(
            e.to_string().contains("without the Docker reconciler"),
            "{e}"
        );
        let other = [("config_file".to_string(), json!({"dir": "rel"}))].into();
        assert_eq!(
            check_settings(&other, &lean, false).unwrap_err().field,
            "reconcilers.config_file"
        );
    }

    #[cfg(feature = "docker")]
    #[test]
    fn settings_are_checked_by_their_reconciler() {
        let ok = [
            ("docker".to_string(), json!({"mode": "off"})),
            ("config_file".to_string(), json!({"dir": "/srv/gateway"})),
        ]
        .into();
        validate_settings(&ok).unwrap();
        let unknown = [("kubernetes".to_string(), json!({}))].into();
        let e = validate_settings(&unknown).unwrap_err();
        assert_eq!(e.field, "reconcilers.kubernetes");
        let bad = [("docker".to_string(), json!({"mode": "maybe"}))].into();
        assert_eq!(
            validate_settings(&bad).unwrap_err().field,
            "reconcilers.docker"
        );
        let relative = [("config_file".to_string(), json!({"dir": "rel"}))].into();
        assert!(
            validate_settings(&relative)
                .unwrap_err()
                .to_string()
                .contains("absolute")
        );
    }
}
