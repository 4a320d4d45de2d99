//! `keys generate|public|rotate`: local file work, no server involved.

use crate::args::KeysCommand;
use crate::error::{CliError, CliResult};

/// Runs a `keys` command.
pub fn run(cmd: KeysCommand) -> CliResult<()> {
    match cmd {
        KeysCommand::Generate { out, name, force } => {
            let k = crate::keys::generate(&out, &name, force).map_err(CliError::Invalid)?;
            super::emit(&format!(
                "created an ed25519 signing key\n  private key: {} (keep it secret; 0600; the domain's signing.keys)\n  public key:  {} (pin it in every site's signing.keys)\n  {}\n",
                k.private.display(),
                k.public_file.display(),
                k.public,
            ));
            Ok(())
        }
        KeysCommand::Public { file } => {
            let k = crate::keys::public_key(&file).map_err(CliError::Invalid)?;
            super::emit(&format!("{k}\n"));
            Ok(())
        }
        KeysCommand::Rotate {
            keys,
            announce,
            threshold,
        } => {
            let section = crate::keys::rotation_section(&keys, &announce, threshold)
                .map_err(CliError::Invalid)?;
            let text = serde_json::to_string_pretty(&section)
                .map_err(|e| CliError::Failed(e.to_string()))?;
            super::emit(&format!("{text}\n"));
            Ok(())
        }
    }
}
