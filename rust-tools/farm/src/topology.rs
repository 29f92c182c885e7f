//! The farm's shape: which members exist, what each is (a QEMU VM or a
//! network namespace on the host), which L2 segments they sit on, and their
//! addresses, MACs and routes. Pure data, deterministic.
//!
//! Default: `client`, `router`, `node1..nodeN` on four segments; the nodes
//! are VMs (they run the test kernel and baton), the client and the router
//! network namespaces (their tools run natively, on the host's kernel):
//!
//! | segment    | subnet           | members                      |
//! |------------|------------------|------------------------------|
//! | `internet` | 198.51.100.0/24  | router .1, client .2         |
//! | `public`   | 203.0.113.0/24   | router .1, nodeN .(10+N)     |
//! | `redist`   | 192.0.2.0/24     | nodeN .(10+N)                |
//! | `sync`     | 198.18.0.0/24    | nodeN .(10+N)                |
//!
//! The client's default route is the router's internet address, the nodes'
//! default route the router's public address, and the router forwards: the
//! client reaches the farm only through the router. MACs are
//! `52:54:00:SS:00:VV` with SS the segment id and VV the VM's
//! [`Role::mac_id`].

use std::net::Ipv4Addr;

/// One L2 segment (a bridge on the host, one NIC per member VM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Name of the bridge's segment and of the NIC inside each VM.
    pub name: &'static str,
    /// Segment id, the SS byte of member MACs (01..04).
    pub id: u8,
    /// The first three octets of the /24 subnet.
    pub net: [u8; 3],
}

impl Segment {
    /// Client ↔ router: the outside world.
    pub const INTERNET: Segment = Segment {
        name: "internet",
        id: 1,
        net: [198, 51, 100],
    };
    /// Router ↔ nodes: where client traffic arrives (the *first network*).
    pub const PUBLIC: Segment = Segment {
        name: "public",
        id: 2,
        net: [203, 0, 113],
    };
    /// Nodes only: connection handoff (the *second network*).
    pub const REDIST: Segment = Segment {
        name: "redist",
        id: 3,
        net: [192, 0, 2],
    };
    /// Nodes only: state announcements (the *third network*).
    pub const SYNC: Segment = Segment {
        name: "sync",
        id: 4,
        net: [198, 18, 0],
    };
    /// All segments, in id order.
    pub const ALL: [Segment; 4] = [Self::INTERNET, Self::PUBLIC, Self::REDIST, Self::SYNC];

    /// The address of host `id` in this segment's /24.
    pub fn addr(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(self.net[0], self.net[1], self.net[2], host)
    }

    /// Prefix length of the segment's subnet.
    pub fn prefix(&self) -> u8 {
        24
    }

    /// The host-side bridge's name.
    pub fn bridge(&self) -> String {
        format!("br-{}", self.name)
    }

    /// Looks a segment up by name.
    pub fn by_name(name: &str) -> Option<Segment> {
        Self::ALL.into_iter().find(|s| s.name == name)
    }
}

/// What a VM is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The outside client (curl, wrk).
    Client,
    /// The router between the internet and the farm.
    Router,
    /// Farm node `n` (1-based), where baton runs.
    Node(u8),
}

impl Role {
    /// The VM's host id: the last octet of its addresses.
    pub fn host_id(self) -> u8 {
        match self {
            Role::Router => 1,
            Role::Client => 2,
            Role::Node(n) => 10 + n,
        }
    }

    /// The VV byte of its MACs: client 01, router 02, nodeN 10+N.
    pub fn mac_id(self) -> u8 {
        match self {
            Role::Client => 1,
            Role::Router => 2,
            Role::Node(n) => 10 + n,
        }
    }

    /// The VM's name: `client`, `router`, `nodeN`.
    pub fn name(self) -> String {
        match self {
            Role::Client => "client".into(),
            Role::Router => "router".into(),
            Role::Node(n) => format!("node{n}"),
        }
    }
}

/// What a member of the farm is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A QEMU/TCG virtual machine booting the test kernel.
    Vm,
    /// A network namespace on the host: its commands run natively, on the
    /// host's kernel, attached to the segments by veth pairs.
    Namespace,
}

/// One network interface of a VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    /// The segment it is attached to; also its name inside the VM.
    pub segment: Segment,
    /// Its MAC address, `52:54:00:SS:00:VV`.
    pub mac: String,
    /// Its IPv4 address (prefix: the segment's).
    pub addr: Ipv4Addr,
}

/// One VM of the farm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmSpec {
    /// Its role, from which name and addresses follow.
    pub role: Role,
    /// Its NICs, in segment order.
    pub nics: Vec<Nic>,
    /// Its default gateway, if any.
    pub gateway: Option<Ipv4Addr>,
    /// Whether it forwards IPv4 (the router).
    pub forwarding: bool,
    /// A VM or a namespace.
    pub kind: Kind,
}

impl VmSpec {
    fn new(role: Role, segments: &[Segment], gateway: Option<Ipv4Addr>) -> Self {
        let nics = segments
            .iter()
            .map(|s| Nic {
                segment: *s,
                mac: format!("52:54:00:{:02x}:00:{:02x}", s.id, role.mac_id()),
                addr: s.addr(role.host_id()),
            })
            .collect();
        VmSpec {
            role,
            nics,
            gateway,
            forwarding: role == Role::Router,
            // Only the nodes need the test kernel.
            kind: match role {
                Role::Node(_) => Kind::Vm,
                Role::Client | Role::Router => Kind::Namespace,
            },
        }
    }

    /// The VM's name.
    pub fn name(&self) -> String {
        self.role.name()
    }

    /// Its NIC on `segment`, if it has one.
    pub fn nic(&self, segment: Segment) -> Option<&Nic> {
        self.nics.iter().find(|n| n.segment == segment)
    }

    /// Its address on `segment`, if it has one.
    pub fn addr_on(&self, segment: Segment) -> Option<Ipv4Addr> {
        self.nic(segment).map(|n| n.addr)
    }

    /// Whether this VM is a farm node.
    pub fn is_node(&self) -> bool {
        matches!(self.role, Role::Node(_))
    }

    /// Whether it is a QEMU VM.
    pub fn is_vm(&self) -> bool {
        self.kind == Kind::Vm
    }
}

/// The set of VMs to boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// The VMs, in boot order.
    pub vms: Vec<VmSpec>,
}

/// The largest supported node count (host ids stay below 0x20).
pub const MAX_NODES: u8 = 16;

impl Topology {
    /// `client`, `router` and `node1..node{nodes}`, as in the module docs.
    /// `nodes` is clamped to `1..=MAX_NODES`.
    pub fn standard(nodes: u8) -> Self {
        let nodes = nodes.clamp(1, MAX_NODES);
        let mut vms = vec![
            VmSpec::new(
                Role::Client,
                &[Segment::INTERNET],
                Some(Segment::INTERNET.addr(Role::Router.host_id())),
            ),
            VmSpec::new(Role::Router, &[Segment::INTERNET, Segment::PUBLIC], None),
        ];
        for n in 1..=nodes {
            vms.push(VmSpec::new(
                Role::Node(n),
                &[Segment::PUBLIC, Segment::REDIST, Segment::SYNC],
                Some(Segment::PUBLIC.addr(Role::Router.host_id())),
            ));
        }
        Topology { vms }
    }

    /// The same farm with the router as a VM running the test kernel, for
    /// a scenario that needs what the host's kernel may lack (netem: the
    /// kernels of the machines here have no `sch_netem`).
    pub fn with_router_vm(mut self) -> Self {
        for v in &mut self.vms {
            if v.role == Role::Router {
                v.kind = Kind::Vm;
            }
        }
        self
    }

    /// Only the named VMs of this topology (e.g. a single node for KUnit).
    pub fn only(mut self, names: &[&str]) -> Self {
        self.vms.retain(|v| names.contains(&v.name().as_str()));
        self
    }

    /// The VM called `name`.
    pub fn vm(&self, name: &str) -> Option<&VmSpec> {
        self.vms.iter().find(|v| v.name() == name)
    }

    /// The VMs attached to `segment`.
    pub fn members(&self, segment: Segment) -> Vec<&VmSpec> {
        self.vms
            .iter()
            .filter(|v| v.nic(segment).is_some())
            .collect()
    }

    /// The segments at least one VM is attached to.
    pub fn segments(&self) -> Vec<Segment> {
        Segment::ALL
            .into_iter()
            .filter(|s| !self.members(*s).is_empty())
            .collect()
    }

    /// The VM's configuration file as read by `qemu/vm-init.sh`: one
    /// directive a line (`hostname`, `nic MAC NAME ADDR/PREFIX`,
    /// `route default GW`, `forward 0|1`, `host ADDR NAME`).
    pub fn vm_config(&self, vm: &VmSpec) -> String {
        let mut s = format!("hostname {}\n", vm.name());
        for n in &vm.nics {
            s += &format!(
                "nic {} {} {}/{}\n",
                n.mac,
                n.segment.name,
                n.addr,
                n.segment.prefix()
            );
        }
        if let Some(gw) = vm.gateway {
            s += &format!("route default {gw}\n");
        }
        s += &format!("forward {}\n", u8::from(vm.forwarding));
        for (addr, name) in self.host_names() {
            s += &format!("host {addr} {name}\n");
        }
        s
    }

    /// Every address of the farm with its name, `VM-SEGMENT`
    /// (`node2-public`), as `/etc/hosts` lists them in every member.
    pub fn host_names(&self) -> Vec<(Ipv4Addr, String)> {
        self.vms
            .iter()
            .flat_map(|v| {
                v.nics
                    .iter()
                    .map(move |n| (n.addr, format!("{}-{}", v.name(), n.segment.name)))
            })
            .collect()
    }

    /// The `/etc/hosts` of member `vm`.
    pub fn hosts_file(&self, vm: &VmSpec) -> String {
        let mut s = format!("127.0.0.1 localhost {}\n", vm.name());
        for (addr, name) in self.host_names() {
            s += &format!("{addr} {name}\n");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_addresses_and_macs() {
        let t = Topology::standard(3);
        let names: Vec<_> = t.vms.iter().map(|v| v.name()).collect();
        assert_eq!(names, ["client", "router", "node1", "node2", "node3"]);
        let n2 = t.vm("node2").unwrap();
        assert_eq!(
            n2.addr_on(Segment::PUBLIC),
            Some(Ipv4Addr::new(203, 0, 113, 12))
        );
        assert_eq!(
            n2.addr_on(Segment::SYNC),
            Some(Ipv4Addr::new(198, 18, 0, 12))
        );
        assert_eq!(n2.nic(Segment::REDIST).unwrap().mac, "52:54:00:03:00:0c");
        assert_eq!(n2.gateway, Some(Ipv4Addr::new(203, 0, 113, 1)));
        let client = t.vm("client").unwrap();
        assert_eq!(
            client.addr_on(Segment::INTERNET),
            Some(Ipv4Addr::new(198, 51, 100, 2))
        );
        assert_eq!(
            client.nic(Segment::INTERNET).unwrap().mac,
            "52:54:00:01:00:01"
        );
        assert_eq!(client.gateway, Some(Ipv4Addr::new(198, 51, 100, 1)));
        let router = t.vm("router").unwrap();
        assert!(router.forwarding && router.gateway.is_none());
        assert_eq!(
            (client.kind, router.kind, n2.kind),
            (Kind::Namespace, Kind::Namespace, Kind::Vm)
        );
        let t = Topology::standard(3).with_router_vm();
        assert_eq!(t.vm("router").unwrap().kind, Kind::Vm);
        assert_eq!(t.vm("client").unwrap().kind, Kind::Namespace);
        assert_eq!(
            router.addr_on(Segment::PUBLIC),
            Some(Ipv4Addr::new(203, 0, 113, 1))
        );
        assert_eq!(
            router.nic(Segment::PUBLIC).unwrap().mac,
            "52:54:00:02:00:02"
        );
    }

    #[test]
    fn membership() {
        let t = Topology::standard(2);
        let members = |s| t.members(s).iter().map(|v| v.name()).collect::<Vec<_>>();
        assert_eq!(members(Segment::INTERNET), ["client", "router"]);
        assert_eq!(members(Segment::PUBLIC), ["router", "node1", "node2"]);
        assert_eq!(members(Segment::SYNC), ["node1", "node2"]);
        let one = Topology::standard(3).only(&["node1"]);
        assert_eq!(
            one.segments(),
            [Segment::PUBLIC, Segment::REDIST, Segment::SYNC]
        );
    }

    #[test]
    fn config_file() {
        let t = Topology::standard(1);
        let c = t.vm_config(t.vm("node1").unwrap());
        assert!(c.starts_with("hostname node1\nnic 52:54:00:02:00:0b public 203.0.113.11/24\n"));
        assert!(c.contains("route default 203.0.113.1\nforward 0\n"));
        assert!(c.contains("host 198.51.100.2 client-internet\n"));
    }
}
