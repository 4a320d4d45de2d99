//! `pki init|issue|inspect`: local file work, no server involved.

use crate::args::{PkiCommand, PkiIdentity, PkiIssueArgs};
use crate::error::{CliError, CliResult};
use crate::output::Output;
use crate::pki::{self, IssueRequest, issue};
use maestro_common::time::rfc3339;

/// Runs a `pki` command; `output` resolves `-o` (only `inspect` prints a view).
pub fn run(cmd: PkiCommand, output: impl FnOnce() -> CliResult<Output>) -> CliResult<()> {
    match cmd {
        PkiCommand::Init {
            dir,
            trust_domain,
            valid_days,
            force,
        } => {
            let out = pki::init(&dir, &trust_domain, valid_days, force)?;
            super::emit(&format!(
                "created CA of trust domain {trust_domain}, valid until {}\n  certificate: {}\n  key:         {} (keep it secret; 0600)\n  metadata:    {}\n",
                rfc3339(out.not_after * 1000),
                out.cert.display(),
                out.key.display(),
                out.metadata.display(),
            ));
            Ok(())
        }
        PkiCommand::Issue(args) => issue_cmd(args),
        PkiCommand::Inspect { file } => {
            let view = pki::inspect_file(&file)?;
            super::emit(&pki::inspect::render(&view, output()?));
            Ok(())
        }
    }
}

fn issue_cmd(args: PkiIssueArgs) -> CliResult<()> {
    let dir = args
        .dir
        .ok_or_else(|| CliError::Invalid("pki issue: --dir is required".into()))?;
    let role = match &args.identity {
        PkiIdentity::Maestro => issue::role("maestro", &[]),
        PkiIdentity::Domain { domain } => issue::role("domain", &[domain]),
        PkiIdentity::Site { domain, site } => issue::role("site", &[domain, site]),
        PkiIdentity::Operator { name } => issue::role("operator", &[name]),
    }?;
    let out = pki::issue(
        &dir,
        &IssueRequest {
            role,
            dns: args.dns,
            ips: args.ip,
            valid_days: args.valid_days,
            out: args.out,
            force: args.force,
        },
    )?;
    super::emit(&format!(
        "issued {} valid until {}\n  certificate: {}\n  key:         {} (keep it secret; 0600)\n",
        out.identity,
        rfc3339(out.not_after * 1000),
        out.cert.display(),
        out.key.display(),
    ));
    Ok(())
}
