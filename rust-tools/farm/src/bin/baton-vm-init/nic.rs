//! The VM's NICs, as the init network namespace sees them: their MAC,
//! MTU and offloads, and moving them into a session's namespace.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// One NIC (not `lo`).
pub struct Nic {
    pub name: String,
    pub mac: String,
    pub mtu: String,
    pub ifindex: i32,
}

/// The NICs in this network namespace (as sysfs, mounted in it, shows).
pub fn list() -> Vec<Nic> {
    let Ok(entries) = fs::read_dir("/sys/class/net") else {
        return Vec::new();
    };
    let read = |dir: &std::path::Path, f: &str| {
        fs::read_to_string(dir.join(f))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let mut out: Vec<Nic> = entries
        .flatten()
        .filter(|e| e.file_name() != "lo")
        .map(|e| {
            let d = e.path();
            Nic {
                name: e.file_name().to_string_lossy().into_owned(),
                mac: read(&d, "address"),
                mtu: read(&d, "mtu"),
                ifindex: read(&d, "ifindex").parse().unwrap_or(0),
            }
        })
        .collect();
    out.sort_by(|a, b| a.mac.cmp(&b.mac));
    out
}

fn socket(domain: i32, kind: i32, protocol: i32) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) has no memory-safety preconditions.
    let fd = unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, protocol) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GFEATURES: u32 = 0x3a;
/// Feature words asked for: 128 features, more than 6.12 has.
const WORDS: usize = 4;

/// `ethtool -k` in short: the requested and active feature bits of NIC
/// `name`, as hex words (SIOCETHTOOL, ETHTOOL_GFEATURES).
pub fn offloads(name: &str) -> io::Result<String> {
    let sock = socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?;
    // struct ethtool_gfeatures: cmd, size, then per word {available,
    // requested, active, never_changed}.
    let mut buf = [0u32; 2 + 4 * WORDS];
    buf[0] = ETHTOOL_GFEATURES;
    buf[1] = WORDS as u32;
    // struct ifreq: the name (16 bytes), then `ifr_data`.
    #[repr(C)]
    struct IfReq {
        name: [u8; 16],
        data: *mut libc::c_void,
        _pad: [u8; 16],
    }
    let mut req = IfReq {
        name: [0; 16],
        data: buf.as_mut_ptr().cast(),
        _pad: [0; 16],
    };
    let n = name.len().min(15);
    req.name[..n].copy_from_slice(&name.as_bytes()[..n]);
    // SAFETY: `req` is a valid ifreq whose data points to `buf`, large
    // enough for WORDS feature words, both alive for the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), SIOCETHTOOL, &mut req) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let words = (buf[1] as usize).min(WORDS);
    Ok((0..words)
        .map(|w| format!("{:08x}/{:08x}", buf[2 + 4 * w + 1], buf[2 + 4 * w + 2]))
        .collect::<Vec<_>>()
        .join(" "))
}

/// A route netlink socket of the current network namespace: opened
/// before the session's namespace is made, it still speaks to the init
/// namespace's devices after.
pub fn rtnetlink() -> io::Result<OwnedFd> {
    socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE)
}

const RTM_NEWLINK: u16 = 16;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLMSG_ERROR: u16 = 2;
const IFLA_NET_NS_PID: u16 = 19;

/// Moves the device `ifindex` of `sock`'s namespace into the network
/// namespace of process `pid` (`ip link set dev X netns PID`).
pub fn move_to(sock: &OwnedFd, ifindex: i32, pid: u32, seq: u32) -> io::Result<()> {
    let mut msg = Vec::with_capacity(40);
    // nlmsghdr: length, type, flags, sequence, port.
    msg.extend_from_slice(&40u32.to_ne_bytes());
    msg.extend_from_slice(&RTM_NEWLINK.to_ne_bytes());
    msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    // ifinfomsg: family, pad, type, index, flags, change.
    msg.extend_from_slice(&[libc::AF_UNSPEC as u8, 0, 0, 0]);
    msg.extend_from_slice(&ifindex.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    // IFLA_NET_NS_PID, u32.
    msg.extend_from_slice(&8u16.to_ne_bytes());
    msg.extend_from_slice(&IFLA_NET_NS_PID.to_ne_bytes());
    msg.extend_from_slice(&pid.to_ne_bytes());
    // SAFETY: `msg` is a valid buffer of its length; the kernel address
    // is the default for an unbound netlink socket.
    if unsafe { libc::send(sock.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut ack = [0u8; 256];
    // SAFETY: `ack` is a writable buffer of its length.
    let n = unsafe { libc::recv(sock.as_raw_fd(), ack.as_mut_ptr().cast(), ack.len(), 0) };
    if n < 20 {
        return Err(io::Error::other("short netlink answer"));
    }
    let kind = u16::from_ne_bytes([ack[4], ack[5]]);
    let error = i32::from_ne_bytes([ack[16], ack[17], ack[18], ack[19]]);
    if kind != NLMSG_ERROR {
        return Err(io::Error::other(format!("netlink answer of type {kind}")));
    }
    if error != 0 {
        return Err(io::Error::from_raw_os_error(-error));
    }
    Ok(())
}
