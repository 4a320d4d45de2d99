//! `bench-signed-state`: what signing the desired state costs a domain per commit and what
//! verifying it costs a site per sync.
//!
//! For a tree of `sites` × `blueprints` blueprint files of about 1 KiB (plus the definitions):
//! - sign: the scope of the whole tree (SHA-256 of every file, each site's checksums file), the
//!   manifest (canonical JSON: the definitions and one SHA-256 per site), one ed25519 signature,
//!   and taking the version durably (a sled flush), as the publisher does;
//! - publish: a whole `GitPublisher::publish` of a tree with one changed blueprint to a local
//!   bare repository, unsigned and signed (the commit cost a domain pays; the compaction the
//!   domain runs after answering a publish runs between rounds, untimed);
//! - verify: one site's check of a commit (signature over the manifest bytes, parsing the
//!   manifest and the site's checksums file, hashing the site's files and the definitions), next
//!   to the snapshot read it follows (what a site paid per sync before).
//!
//! Usage: `cargo run --release -p maestro-tests --bin bench-signed-state [SITES BLUEPRINTS ROUNDS]`
//! (default 10 20 50).

use domain_orchestrator::git::{BlueprintRepo, GitPublisher, init_bare_remote};
use domain_orchestrator::signing::{ManifestSigner, VersionCounter};
use maestro_common::manifest::{KeySet, Scope, SigningKey, checksums_path, shard_path};
use site_agent::gitsync::GitMirror;
use site_agent::gitsync::mirror::Entry;
use site_agent::gitsync::verify::{Candidate, Trust, verify};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// A blueprint file of about 1 KiB.
fn blueprint(site: usize, n: usize, round: usize) -> String {
    let filler = "x".repeat(800);
    format!(
        "{{\"kind\": \"ProcessDeployment\", \"metadata\": {{\"name\": \"svc-{n}\"}}, \
         \"spec\": {{\"command\": \"/bin/sleep\", \"args\": [\"3600\"], \"env\": {{\"SITE\": \"s-{site}\", \
         \"ROUND\": \"{round}\", \"PAD\": \"{filler}\"}}}}}}\n"
    )
}

fn tree(sites: usize, blueprints: usize, round: usize) -> BTreeMap<String, String> {
    let mut files: BTreeMap<String, String> = domain_orchestrator::translator::definitions()
        .into_iter()
        .collect();
    for s in 0..sites {
        for b in 0..blueprints {
            // One blueprint changes per round.
            let r = if s == 0 && b == 0 { round } else { 0 };
            files.insert(
                format!("sites/s-{s}/ProcessDeployment/svc-{b}.json"),
                blueprint(s, b, r),
            );
        }
    }
    files
}

fn stats(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<34} median {:>8.3} ms   p90 {:>8.3} ms   max {:>8.3} ms   ({} samples)",
        ms(at(0.5)),
        ms(at(0.9)),
        ms(at(1.0)),
        samples.len()
    );
    at(0.5)
}

fn signer(dir: &Path, key: SigningKey, set: &KeySet) -> anyhow::Result<ManifestSigner> {
    let db = sled::open(dir)?;
    Ok(ManifestSigner::new(
        "north",
        vec![key],
        set.clone(),
        7 * 24 * 3600,
        3 * 24 * 3600,
        VersionCounter::new(db.open_tree("versions")?),
    ))
}

fn publisher(dir: &Path, name: &str) -> anyhow::Result<(GitPublisher, String)> {
    let remote = dir.join(format!("{name}.git"));
    init_bare_remote(&remote, "main")?;
    let remote = remote.display().to_string();
    let p = GitPublisher::open(
        &dir.join(format!("{name}-mirror")),
        &remote,
        "main",
        false,
        "north",
    )?;
    Ok((p, remote))
}

fn main() -> anyhow::Result<()> {
    maestro_tests::usage::help_if_asked(include_str!("bench-signed-state.rs"));
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let sites = args.first().copied().unwrap_or(10);
    let blueprints = args.get(1).copied().unwrap_or(20);
    let rounds = args.get(2).copied().unwrap_or(50);
    let dir = tempfile::tempdir()?;
    let key = SigningKey::generate()?.0;
    let set = KeySet::new("bench", 1, vec![key.public()]).map_err(anyhow::Error::msg)?;
    let files = tree(sites, blueprints, 0);
    let bytes: usize = files.values().map(String::len).sum();
    println!(
        "tree: {} files, {} KiB ({sites} sites × {blueprints} blueprints + definitions); {rounds} rounds",
        files.len(),
        bytes / 1024
    );

    // Signing alone.
    let s = signer(
        &dir.path().join("sign-sled"),
        SigningKey::generate()?.0,
        &set,
    )?;
    let mut samples = Vec::new();
    let (mut manifest_len, mut checksums_len) = (0, (0, 0));
    for round in 0..rounds {
        let files = tree(sites, blueprints, round);
        let t = Instant::now();
        let scope = Scope::of(&files);
        let signed = s.sign(&scope, 0, maestro_common::time::now_millis())?;
        samples.push(t.elapsed());
        manifest_len = signed.manifest.len();
        let len = |path: String| scope.checksums.get(&path).map_or(0, String::len);
        checksums_len = (len(shard_path("s-0")), len(checksums_path("s-0")));
    }
    println!(
        "manifest.json: {:.1} KiB; s-0's shard's checksums file {:.1} KiB, its own {:.1} KiB",
        manifest_len as f64 / 1024.0,
        checksums_len.0 as f64 / 1024.0,
        checksums_len.1 as f64 / 1024.0
    );
    stats("sign (scope + manifest + ed25519 + flush)", samples);

    // A whole publish, unsigned and signed.
    let (plain, _) = publisher(dir.path(), "plain")?;
    let (signed, remote) = publisher(dir.path(), "signed")?;
    let signed = signed.with_signer(signer(&dir.path().join("pub-sled"), key, &set)?);
    let mut times = [Vec::new(), Vec::new()];
    for round in 1..=rounds {
        let files = tree(sites, blueprints, round);
        for (i, p) in [&plain, &signed].into_iter().enumerate() {
            let t = Instant::now();
            let published = p.publish(&files, "bench")?;
            times[i].push(t.elapsed());
            anyhow::ensure!(published.changed, "every round changes a blueprint");
            // As the domain does once it answered the publish, outside the timing.
            p.compact_if_needed();
        }
    }
    let [plain_t, signed_t] = times;
    let a = stats("publish, unsigned", plain_t);
    let b = stats("publish, signed", signed_t);
    println!(
        "signing adds {:.3} ms per commit",
        (b.as_secs_f64() - a.as_secs_f64()) * 1000.0
    );

    // One site's sync: the snapshot it reads, and the verification it now adds.
    let mirror = GitMirror::new(&dir.path().join("site-mirror"), &remote, "main");
    let commit = mirror
        .fetch()?
        .ok_or_else(|| anyhow::anyhow!("no commit"))?;
    let (mut snaps, mut checks) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        let snap = mirror.snapshot(&commit, "s-0")?;
        snaps.push(t.elapsed());
        let t = Instant::now();
        let files: Vec<(String, &Entry)> = snap
            .definitions
            .iter()
            .map(|(f, e)| (format!("definitions/{f}"), e))
            .chain(
                snap.site_files
                    .iter()
                    .map(|(r, e)| (format!("sites/s-0/{r}"), e)),
            )
            .collect();
        let scopes = ["definitions/".to_string(), "sites/s-0/".to_string()];
        let verified = verify(
            &Candidate {
                commit: &commit,
                manifest: snap.manifest.as_ref(),
                signatures: snap.signatures.as_ref(),
                site: "s-0",
                checksums: &snap.checksums,
                files: &files,
                scopes: &scopes,
            },
            &Trust {
                domain: "north",
                keys: &set,
                last: None,
                now_ms: maestro_common::time::now_millis(),
            },
        );
        checks.push(t.elapsed());
        anyhow::ensure!(verified.is_ok(), "verification failed: {verified:?}");
    }
    let a = stats("site snapshot (before)", snaps);
    let b = stats("site verify (added)", checks);
    println!(
        "verifying adds {:.0} % to reading a commit's files",
        b.as_secs_f64() / a.as_secs_f64() * 100.0
    );
    Ok(())
}
