//! Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and
//! Reliable Software Network Load Balancer", NSDI 2016, section 3.4).
//!
//! A lookup table of `M` entries (`M` prime) maps a key's hash to a node:
//! `node = table[hash mod M]`. Each node has a pseudo-random permutation of
//! the entries,
//!
//! ```text
//! offset = h1(id) mod M,  skip = h2(id) mod (M − 1) + 1
//! permutation[j] = (offset + j × skip) mod M
//! ```
//!
//! (a full permutation because `M` is prime and `1 ≤ skip < M`), where
//! `h1` and `h2` are the two 32-bit halves of SipHash-2-4 of the node id
//! under the public key [`PERMUTATION_KEY`]: every node of the farm
//! computes the same permutations and so the same table. Population
//! gives the nodes turns, in ascending id order; at its turn a node takes
//! the next entry of its permutation that is still empty. With equal
//! weights every node therefore gets `⌊M/N⌋` or `⌈M/N⌉` entries.
//!
//! **Weights.** Each round, every node adds its weight to a credit; a
//! node takes a turn while its credit reaches the largest weight `W`
//! (which then is subtracted). A node of weight `w` thus takes `w / W`
//! turns per round on average and gets about `M × w / Σw` entries (within
//! one or two entries; the host tests measure it).
//!
//! **Disruption.** Removing one of `N` nodes must move its `≈ M/N`
//! entries; Maglev moves slightly more, because the other nodes' fill
//! order changes. Measured with `M` = [`MAGLEV_SIZE`] (`tests/maglev.rs`,
//! random node ids, one node removed): the fraction of changed entries
//! exceeds `1/N` by about 0.002 on average for N = 3, 0.008 for N = 10,
//! 0.016 for N = 65, and by at most 0.02 in the samples; adding a node
//! likewise. The tests hold it to `1/N + 0.05`.
//!
//! One exception, inherent in the paper's linear permutations: two nodes
//! whose permutations have the same `skip` (probability `1/(M − 1)` per
//! pair of nodes, so about 0.04 % for a 3-node farm and 25 % for 65 nodes)
//! walk the same cycle one behind the other, and a third node's arrival or
//! departure can make them trade many entries: up to `1/N + 0.40` for
//! `N = 3` (measured), much less in larger farms where the pair holds a
//! smaller share. [`shared_skip`] finds such a pair, so an operator can be
//! told to renumber one node. (Pseudo-random permutations would remove
//! the case, at about ten times the population cost; not done.)
//!
//! **Sizes and cost.** `M` is the length of the caller's table (any
//! prime from 2 to [`MAGLEV_SIZE_MAX`]); [`MAGLEV_SIZE`] = 8191 (a
//! Mersenne prime, 16 KiB as `u16`) is the production size: at least
//! 100 entries per node for the 65 nodes of a full farm, as the paper
//! advises for balance and small disruption. Population costs `O(M log M)`
//! probes on average and at most `N × M` (each node walks its permutation
//! at most once, and each round places at least one entry: the
//! heaviest node's), with no allocation: the per-node state is the
//! caller's slice of [`MaglevNode`]. A lookup is one division.

use super::siphash::{siphash24, SipKey};

/// The production table size (prime).
pub const MAGLEV_SIZE: usize = 8191;
/// A small table size (prime) for tests.
pub const MAGLEV_SIZE_SMALL: usize = 251;
/// The largest accepted table size (prime).
pub const MAGLEV_SIZE_MAX: usize = 65537;

const _: () = assert!(is_prime(MAGLEV_SIZE));
const _: () = assert!(is_prime(MAGLEV_SIZE_SMALL));
const _: () = assert!(is_prime(MAGLEV_SIZE_MAX));

/// The public SipHash key of the permutations (node ids are public;
/// the point is only that every node computes the same table).
pub const PERMUTATION_KEY: SipKey = *b"baton maglev v1\0";

/// Why a table cannot be populated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MaglevError {
    /// The table's length is not a prime in `2..=MAGLEV_SIZE_MAX`.
    BadSize,
    /// A node has id 0 or weight 0, or two nodes share an id.
    BadNode,
}

/// A node taking part in a population, with its scratch state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaglevNode {
    /// Node id (non-zero): what the table's entries hold.
    pub id: u16,
    /// Weight (non-zero).
    pub weight: u16,
    pos: u32,
    skip: u32,
    credit: u32,
}

impl MaglevNode {
    /// An unused node (id 0).
    pub const EMPTY: Self = MaglevNode::new(0, 0);

    /// Node `id` with `weight`.
    pub const fn new(id: u16, weight: u16) -> Self {
        MaglevNode {
            id,
            weight,
            pos: 0,
            skip: 0,
            credit: 0,
        }
    }
}

/// Whether `n` is prime (trial division; `n ≤ 2³²` in practice).
pub const fn is_prime(n: usize) -> bool {
    if n < 2 {
        return false;
    }
    if n < 4 {
        return true;
    }
    if n % 2 == 0 {
        return false;
    }
    let mut d = 3usize;
    while d <= n / d {
        if n % d == 0 {
            return false;
        }
        d += 2;
    }
    true
}

/// The permutation of node `id` in a table of `m` entries: `(offset,
/// skip)`, with `offset < m` and `1 ≤ skip < m` (for `m ≥ 2`).
pub fn permutation(id: u16, m: usize) -> (u32, u32) {
    let h = siphash24(&PERMUTATION_KEY, &id.to_be_bytes());
    let m = m as u64;
    let offset = (h >> 32).checked_rem(m).unwrap_or(0);
    let skip = (h & 0xffff_ffff)
        .checked_rem(m.saturating_sub(1))
        .unwrap_or(0)
        .saturating_add(1);
    // Both below m ≤ MAGLEV_SIZE_MAX < 2³².
    (offset as u32, skip as u32)
}

/// Fills `table` (its length is `M`) from `nodes` (their order does not
/// matter: turns go by ascending id, which this function sorts `nodes`
/// into). Every entry gets a node id; with no node every entry is 0.
/// Returns the number of nodes.
pub fn populate(table: &mut [u16], nodes: &mut [MaglevNode]) -> Result<usize, MaglevError> {
    let m = table.len();
    if m > MAGLEV_SIZE_MAX || !is_prime(m) {
        return Err(MaglevError::BadSize);
    }
    sort_by_id(nodes);
    let mut prev = 0u16;
    let mut wmax = 0u32;
    for n in nodes.iter_mut() {
        if n.id == 0 || n.weight == 0 || n.id == prev {
            return Err(MaglevError::BadNode);
        }
        prev = n.id;
        wmax = wmax.max(u32::from(n.weight));
        let (offset, skip) = permutation(n.id, m);
        n.pos = offset;
        n.skip = skip;
        n.credit = 0;
    }
    table.fill(0);
    if nodes.is_empty() {
        return Ok(0);
    }
    let m32 = m as u32;
    let mut filled = 0usize;
    // Each round places at least one entry (the heaviest node's), so M
    // rounds fill the table; the bound only guards the loop.
    for _round in 0..=m {
        for n in nodes.iter_mut() {
            n.credit = n.credit.saturating_add(u32::from(n.weight));
            if n.credit < wmax {
                continue;
            }
            n.credit = n.credit.saturating_sub(wmax);
            // Walk the permutation to the next empty entry: at most M
            // probes, as the permutation visits every entry.
            for _probe in 0..m {
                let c = n.pos as usize;
                // pos < M and skip < M: the sum fits in u32 (M ≤ 65537).
                n.pos = n.pos.wrapping_add(n.skip).checked_rem(m32).unwrap_or(0);
                if let Some(e) = table.get_mut(c) {
                    if *e == 0 {
                        *e = n.id;
                        filled = filled.saturating_add(1);
                        break;
                    }
                }
            }
            if filled >= m {
                return Ok(nodes.len());
            }
        }
    }
    Ok(nodes.len())
}

fn sort_by_id(nodes: &mut [MaglevNode]) {
    // Insertion sort: at most a few dozen nodes, no allocation.
    for i in 1..nodes.len() {
        let mut j = i;
        while j > 0 {
            let (a, b) = (nodes.get(j - 1).map(|n| n.id), nodes.get(j).map(|n| n.id));
            if a <= b {
                break;
            }
            nodes.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// The entry a key with `hash` falls on, in a table of `m` entries.
pub fn index(m: usize, hash: u64) -> usize {
    // Below m.
    hash.checked_rem(m as u64).unwrap_or(0) as usize
}

/// The node of a key with `hash` (`None` for an empty or unpopulated
/// table).
pub fn lookup(table: &[u16], hash: u64) -> Option<u16> {
    table
        .get(index(table.len(), hash))
        .copied()
        .filter(|&id| id != 0)
}

/// The nodes of the entries from the key's own onwards (wrapping), one
/// per entry, `M` in all: the first is [`lookup`]'s; a caller that cannot
/// use it (a node excluded for this key) takes the first acceptable one,
/// which spreads a node's keys over the others in proportion to their
/// entries.
pub fn probe(table: &[u16], hash: u64) -> impl Iterator<Item = u16> + '_ {
    let start = index(table.len(), hash);
    let (a, b) = table.split_at(start.min(table.len()));
    b.iter().chain(a.iter()).copied().filter(|&id| id != 0)
}

/// Two of `ids` (ascending order of the pair) whose permutations in a
/// table of `m` entries share their skip, if any (O(N²); see the [module
/// documentation](self) for why it matters).
pub fn shared_skip(m: usize, ids: &[u16]) -> Option<(u16, u16)> {
    for (i, &a) in ids.iter().enumerate() {
        let sa = permutation(a, m).1;
        for &b in ids.iter().skip(i.saturating_add(1)) {
            if a != b && permutation(b, m).1 == sa {
                return Some((a.min(b), a.max(b)));
            }
        }
    }
    None
}
