//! Ref slugs, image tags and cache refs: the per-ref policy that keeps a feature branch's
//! images and caches from leaking into the default branch. Pure functions only.
//!
//! OWNER: ref policy work (issue 3). The types and signatures below are the contract the
//! planner codes against; extend them, don't rename them.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RefKind {
    Branch,
    Tag,
    Pr,
    Detached,
}

/// The ref a pipeline runs for (or is generated on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefInfo {
    /// Branch or tag name (for a PR: its head branch); for detached HEAD the short sha.
    pub name: String,
    pub kind: RefKind,
    pub slug: String,
    pub sha: String,
    #[serde(skip)]
    pub short_sha: String,
    pub default_branch: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pr: Option<u64>,
}

/// Where caches are read from and written to, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    /// Tag builds write a cache too (default: no, they only read the default branch's).
    pub write_on_tag: bool,
    /// PR builds write a cache too (default: no).
    pub write_on_pr: bool,
}

impl Default for CachePolicy {
    fn default() -> Self {
        CachePolicy { write_on_tag: false, write_on_pr: false }
    }
}

/// The cache refs of one stage for one ref: read in order, write at most one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheRefs {
    pub from: Vec<String>,
    pub to: Option<String>,
}

// pub fn slug(name: &str) -> String  -- GitLab's CI_COMMIT_REF_SLUG (to be written)
