//! The repository layout: `definitions/<kind>.json` and `sites/<site>/<kind>/<name>.json`.

use crate::names::validate_name;

/// Folder of the blueprint definitions.
pub const DEFINITIONS_DIR: &str = "definitions";
/// Folder of the per-site blueprints.
pub const SITES_DIR: &str = "sites";

/// Path of blueprint `name` of `kind` for `site`. The parts must be validated names
/// ([`crate::ResourceName`]), so no name can forge another path.
pub fn blueprint_path(site: &str, kind: &str, name: &str) -> String {
    format!("{SITES_DIR}/{site}/{kind}/{name}.json")
}

/// Path of the definition of `kind`.
pub fn definition_path(kind: &str) -> String {
    format!("{DEFINITIONS_DIR}/{kind}.json")
}

/// Splits `<kind>/<name>.json` (relative to `sites/<site>/`) into validated kind and name.
pub fn parse_blueprint_path(rel: &str) -> Result<(String, String), String> {
    let parts: Vec<&str> = rel.split('/').collect();
    let [kind, file] = parts.as_slice() else {
        return Err(format!("expected {SITES_DIR}/<site>/<kind>/<name>.json"));
    };
    let Some(name) = file.strip_suffix(".json") else {
        return Err("file name must end in .json".to_string());
    };
    validate_name("kind", kind).map_err(|e| e.to_string())?;
    validate_name("name", name).map_err(|e| e.to_string())?;
    Ok(((*kind).to_string(), name.to_string()))
}

/// The kind a `definitions/<file>` names (`<kind>.json`), validated.
pub fn parse_definition_file(file: &str) -> Result<String, String> {
    let Some(stem) = file.strip_suffix(".json") else {
        return Err("file name must end in .json".to_string());
    };
    validate_name("definition", stem).map_err(|e| e.to_string())?;
    Ok(stem.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip_and_bad_ones_are_refused() {
        let p = blueprint_path("north-1", "ProcessDeployment", "web");
        assert_eq!(p, "sites/north-1/ProcessDeployment/web.json");
        let rel = p.strip_prefix("sites/north-1/").unwrap();
        assert_eq!(
            parse_blueprint_path(rel).unwrap(),
            ("ProcessDeployment".to_string(), "web".to_string())
        );
        assert!(parse_blueprint_path("ProcessDeployment/bad name.json").is_err());
        assert!(parse_blueprint_path("ProcessDeployment/web.yaml").is_err());
        assert!(parse_blueprint_path("a/b/c.json").is_err());
        assert!(parse_blueprint_path("../web.json").is_err());
        assert_eq!(definition_path("ConfigFile"), "definitions/ConfigFile.json");
        assert_eq!(
            parse_definition_file("ConfigFile.json").unwrap(),
            "ConfigFile"
        );
        assert!(parse_definition_file("..json").is_err());
        assert!(parse_definition_file("x.yaml").is_err());
    }
}
