//! The netlink transport: a blocking generic netlink socket (neli's
//! `NlSocketHandle`), family resolution through `nlctrl`, and request /
//! reply / ack / error handling including the extended ack message. This is
//! the only module that talks to the kernel; it moves the bytes that
//! [`crate::codec`] encodes and decodes.

use neli::{
    consts::{
        nl::{NlmF, Nlmsg},
        socket::NlFamily,
    },
    err::Nlmsgerr,
    nl::{NlPayload, Nlmsghdr, NlmsghdrBuilder},
    socket::synchronous::NlSocketHandle,
    types::{Buffer, GenlBuffer},
    utils::Groups,
};

use baton_core::genl;

use crate::codec::{self, Request};
use crate::Error;

/// `NLMSGERR_ATTR_MSG`.
const NLMSGERR_ATTR_MSG: u16 = 1;

/// A connection to one generic netlink family.
pub struct Conn {
    sock: NlSocketHandle,
    family: u16,
    name: String,
    seq: u32,
}

fn sys(what: &str, e: impl std::fmt::Display) -> Error {
    Error::System(format!("{what}: {e}"))
}

/// The extended ack message among `attrs`, if any.
fn ext_ack_msg<A>(attrs: &GenlBuffer<A, Buffer>) -> Option<String>
where
    A: neli::consts::genl::NlAttrType + Copy + Into<u16>,
{
    attrs.iter().find_map(|a| {
        let ty: u16 = (*a.nla_type().nla_type()).into();
        if ty & codec::NLA_TYPE_MASK != NLMSGERR_ATTR_MSG {
            return None;
        }
        let p: &[u8] = a.nla_payload().as_ref();
        let end = p.iter().position(|&b| b == 0).unwrap_or(p.len());
        Some(String::from_utf8_lossy(&p[..end]).into_owned())
    })
}

fn kernel_error<M>(e: &Nlmsgerr<M>) -> Error {
    Error::Kernel {
        errno: -*e.error(),
        msg: ext_ack_msg(e.ext_ack()),
    }
}

impl Conn {
    /// Opens a socket and resolves the `baton` family.
    pub fn open() -> Result<Self, Error> {
        Self::open_family(genl::FAMILY_NAME)
    }

    /// Opens a socket and resolves family `name`. A missing family is
    /// [`Error::NotLoaded`].
    pub fn open_family(name: &str) -> Result<Self, Error> {
        let sock = NlSocketHandle::connect(NlFamily::Generic, None, Groups::empty())
            .map_err(|e| sys("cannot open a generic netlink socket", e))?;
        sock.enable_ext_ack(true)
            .map_err(|e| sys("cannot enable extended acks", e))?;
        let mut conn = Conn {
            sock,
            family: codec::ctrl::GENL_ID_CTRL,
            name: name.to_string(),
            seq: 0,
        };
        let replies = match conn.exchange(&codec::ctrl::get_family(name), false) {
            Ok(r) => r,
            Err(Error::Kernel { errno, .. }) if errno == libc::ENOENT => {
                return Err(Error::NotLoaded)
            }
            Err(e) => return Err(e),
        };
        let reply = replies
            .first()
            .ok_or_else(|| Error::System("no reply from the generic netlink controller".into()))?;
        conn.family = codec::ctrl::family_id(reply).map_err(|e| Error::System(e.to_string()))?;
        Ok(conn)
    }

    /// The family id.
    pub fn family(&self) -> u16 {
        self.family
    }

    /// Sends `req` and returns the generic netlink payload of every reply
    /// message (none for a plain ack).
    ///
    /// A module being unloaded since [`Conn::open`] is [`Error::NotLoaded`]
    /// too, not a confusing errno: the generic netlink core refuses a dump
    /// with a bare `EPROTONOSUPPORT` while the module is going away (it
    /// cannot take a reference on it), and any request with a bare `ENOENT`
    /// once the family is unregistered.
    pub fn transact(&mut self, req: &Request) -> Result<Vec<Vec<u8>>, Error> {
        match self.exchange(&req.encode(), req.dump) {
            Err(Error::Kernel { errno, msg: None })
                if errno == libc::EPROTONOSUPPORT && req.dump =>
            {
                Err(Error::NotLoaded)
            }
            Err(Error::Kernel { errno, msg: None })
                if errno == libc::ENOENT && self.family != codec::ctrl::GENL_ID_CTRL =>
            {
                match Self::open_family(&self.name) {
                    Err(Error::NotLoaded) => Err(Error::NotLoaded),
                    _ => Err(Error::Kernel { errno, msg: None }),
                }
            }
            r => r,
        }
    }

    /// Sends a raw generic netlink payload (`genlmsghdr` + attributes) to
    /// the family and collects the replies until the ack (do) or the end of
    /// the dump.
    pub fn exchange(&mut self, payload: &[u8], dump: bool) -> Result<Vec<Vec<u8>>, Error> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let flags = if dump {
            NlmF::REQUEST | NlmF::DUMP
        } else {
            NlmF::REQUEST | NlmF::ACK
        };
        let msg = NlmsghdrBuilder::default()
            .nl_type(self.family)
            .nl_flags(flags)
            .nl_seq(seq)
            .nl_pid(0)
            .nl_payload(NlPayload::Payload(Buffer::from(payload.to_vec())))
            .build()
            .map_err(|e| sys("cannot build netlink message", e))?;
        self.sock
            .send(&msg)
            .map_err(|e| sys("cannot send netlink request", e))?;

        let mut out = Vec::new();
        loop {
            let (iter, _) = self
                .sock
                .recv::<u16, Buffer>()
                .map_err(|e| sys("cannot receive netlink reply", e))?;
            for m in iter {
                let m: Nlmsghdr<u16, Buffer> = m.map_err(|e| sys("malformed netlink reply", e))?;
                if *m.nl_seq() != seq {
                    // A late reply to an earlier request: not ours.
                    continue;
                }
                match m.nl_payload() {
                    NlPayload::Ack(_) => return Ok(out),
                    NlPayload::Err(e) => return Err(kernel_error(e)),
                    NlPayload::DumpExtAck(e) => {
                        return if *e.error() < 0 {
                            Err(kernel_error(e))
                        } else {
                            Ok(out)
                        };
                    }
                    NlPayload::Empty => {
                        if *m.nl_type() == u16::from(Nlmsg::Done) {
                            return Ok(out);
                        }
                    }
                    NlPayload::Payload(p) => {
                        if *m.nl_type() == u16::from(Nlmsg::Done) {
                            // A DONE without NLM_F_MULTI: its payload is
                            // the dump's status.
                            let b: &[u8] = p.as_ref();
                            let status = b
                                .get(..4)
                                .map(|s| i32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
                                .unwrap_or(0);
                            if status < 0 {
                                return Err(Error::Kernel {
                                    errno: -status,
                                    msg: None,
                                });
                            }
                            return Ok(out);
                        }
                        out.push(p.as_ref().to_vec());
                        if !dump && !m.nl_flags().contains(NlmF::MULTI) {
                            // A do reply; the ack follows.
                            continue;
                        }
                    }
                }
            }
        }
    }
}
