//! What the configuration, the farm state table and the policies share
//! about a service: what identifies it ([`ServiceKey`]) and the tunables
//! of its farm-aware policy ([`FarmParams`], with LARD's [`Thresholds`]).
//!
//! A leaf module (it uses only the netlink family's enums, [`super::genl`]):
//! `config` stores these in each service, `farm` and `farmpolicy` read
//! them, and none of those has to reach into another for them, which made
//! `config` → `farmpolicy` → `policy` → `config` a cycle.

use super::genl::{LoadMetric, Protocol};

/// What identifies a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceKey {
    /// Virtual IPv4 address (octets).
    pub vip: [u8; 4],
    /// Port.
    pub port: u16,
    /// Transport protocol.
    pub protocol: Protocol,
}

/// Pai et al.'s `T_low`, in connections.
pub const T_LOW_DEFAULT: u32 = 25;
/// Pai et al.'s `T_high`, in connections.
pub const T_HIGH_DEFAULT: u32 = 65;

/// LARD's load thresholds (what they decide: [`Thresholds::overloaded`],
/// in [`super::lard`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Thresholds {
    /// `T_low`: a node below it is underloaded.
    pub low: u32,
    /// `T_high`: a node above it is overloaded if some node is below
    /// `T_low`; a node at `2 × T_high` is overloaded in any case.
    pub high: u32,
}

impl Thresholds {
    /// The paper's values.
    pub const DEFAULT: Thresholds = Thresholds {
        low: T_LOW_DEFAULT,
        high: T_HIGH_DEFAULT,
    };
}

impl Default for Thresholds {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The default [`FarmParams::local_max`]: Pai et al.'s `T_high`.
pub const LOCAL_MAX_DEFAULT: u32 = T_HIGH_DEFAULT;

/// Tunables of the farm-aware policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FarmParams {
    /// What a node's load is.
    pub metric: LoadMetric,
    /// `local-first`: this node serves while its load is at most this.
    pub local_max: u32,
    /// `lard`: the thresholds.
    pub lard: Thresholds,
}

impl FarmParams {
    /// Owned connections; `local_max` 65; LARD 25 / 65.
    pub const DEFAULT: FarmParams = FarmParams {
        metric: LoadMetric::Conns,
        local_max: LOCAL_MAX_DEFAULT,
        lard: Thresholds::DEFAULT,
    };
}

impl Default for FarmParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}
