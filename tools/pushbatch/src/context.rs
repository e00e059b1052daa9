//! Where a command runs: the repository root, the local stack's state
//! directory, and the environment (process variables over the env file).

use std::path::{Path, PathBuf};

use clap::Args;

use crate::env_file::{EnvFileError, EnvMap};

/// File name of the stack's environment inside the state directory. Here rather
/// than in `local`, which writes the file, because every command reads it through
/// `Context` and `local` already depends on this module.
pub const STACK_ENV_FILE: &str = "stack.env";

/// Flags every subcommand accepts.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// Repository root [default: the nearest directory at or above the
    /// current one whose Cargo.toml has a [workspace] table]
    #[arg(long, global = true, env = "PUSHBATCH_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Local stack state directory [default: <root>/.local/stack]
    #[arg(long, global = true, env = "PUSHBATCH_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// KEY=VALUE file with the stack's environment [default:
    /// <state-dir>/stack.env when it exists]; process variables win over it
    #[arg(long, global = true, env = "PUSHBATCH_ENV_FILE", value_name = "FILE")]
    pub env_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("no repository root: no Cargo.toml with a [workspace] table in {start} or above (pass --root)")]
    RootNotFound { start: PathBuf },
    #[error("current directory: {0}")]
    CurrentDir(#[source] std::io::Error),
    #[error(transparent)]
    EnvFile(#[from] EnvFileError),
}

/// Resolved locations for one command run.
#[derive(Debug, Clone)]
pub struct Context {
    root: Result<PathBuf, PathBuf>,
    state_dir: Option<PathBuf>,
    env_file: Option<PathBuf>,
}

impl Context {
    /// Resolves the flags; a missing repository root is only an error for
    /// commands that need it (`seed` works anywhere with an env file).
    pub fn resolve(args: &GlobalArgs) -> Result<Self, ContextError> {
        let cwd = std::env::current_dir().map_err(ContextError::CurrentDir)?;
        let root = match &args.root {
            Some(root) => Ok(absolute(&cwd, root)),
            None => find_workspace_root(&cwd).ok_or(cwd.clone()),
        };
        let state_dir = match (&args.state_dir, &root) {
            (Some(dir), _) => Some(absolute(&cwd, dir)),
            (None, Ok(root)) => Some(default_state_dir(root)),
            (None, Err(_)) => None,
        };
        Ok(Self { root, state_dir, env_file: args.env_file.as_ref().map(|f| absolute(&cwd, f)) })
    }

    pub fn root(&self) -> Result<&Path, ContextError> {
        self.root.as_deref().map_err(|start| ContextError::RootNotFound { start: start.clone() })
    }

    pub fn state_dir(&self) -> Result<&Path, ContextError> {
        match &self.state_dir {
            Some(dir) => Ok(dir),
            None => Err(self.root().err().unwrap_or_else(|| ContextError::RootNotFound { start: PathBuf::from(".") })),
        }
    }

    /// The env file in effect: `--env-file`, else `<state-dir>/stack.env`
    /// when it exists.
    pub fn env_file(&self) -> Option<PathBuf> {
        if let Some(file) = &self.env_file {
            return Some(file.clone());
        }
        let candidate = self.state_dir.as_ref()?.join(STACK_ENV_FILE);
        candidate.is_file().then_some(candidate)
    }

    /// Configuration for commands: the env file (if any) with the process
    /// environment over it, so an explicit `VAR=… pushbatch …` always wins.
    pub fn env(&self) -> Result<EnvMap, ContextError> {
        let base = match self.env_file() {
            Some(file) => EnvMap::read(&file)?,
            None => EnvMap::new(),
        };
        Ok(base.overlaid_with(&EnvMap::from_process()))
    }
}

/// `<root>/.local/stack`.
pub fn default_state_dir(root: &Path) -> PathBuf {
    root.join(".local").join("stack")
}

/// The nearest directory at or above `start` whose `Cargo.toml` declares a
/// `[workspace]`.
pub fn find_workspace_root(start: &Path) -> Option<PathBuf> {
    start.ancestors().find_map(|dir| {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
        manifest.lines().any(|line| line.trim() == "[workspace]").then(|| dir.to_path_buf())
    })
}

fn absolute(cwd: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() { path.to_path_buf() } else { cwd.join(path) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_workspace_root_from_a_member_directory() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = find_workspace_root(&here.join("src")).expect("workspace root");
        assert!(root.join("tools").join("pushbatch").is_dir());
        assert_ne!(root, here, "a member's Cargo.toml has no [workspace] table");
    }
}
