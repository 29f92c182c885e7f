// SPDX-License-Identifier: GPL-2.0
/*
 * One-line shims over static inline functions and macros that bindgen cannot
 * see.  No decision lives here: most forward to one kernel helper, a few group
 * the field writes of one step (preparing a frame, scrubbing a forwarded
 * packet).  Prototypes are in baton_helper.h.
 */
#include "baton_helper.h"

/* A KUnit case can make it fail (see baton_kunit_fail_pulls_over()); without KUnit the redirect is empty. */
bool baton_pskb_may_pull(struct sk_buff *skb, unsigned int len)
{
	KUNIT_STATIC_STUB_REDIRECT(baton_pskb_may_pull, skb, len);
	return pskb_may_pull(skb, len);
}
unsigned int baton_skb_headlen(const struct sk_buff *skb) { return skb_headlen(skb); }
int baton_skb_network_offset(const struct sk_buff *skb) { return skb_network_offset(skb); }
unsigned char *baton_skb_mac_header(const struct sk_buff *skb) { return skb_mac_header(skb); }
bool baton_skb_mac_header_was_set(const struct sk_buff *skb) { return skb_mac_header_was_set(skb); }
void baton_kfree_skb(struct sk_buff *skb) { kfree_skb(skb); }
void baton_consume_skb(struct sk_buff *skb) { consume_skb(skb); }
struct sk_buff *baton_skb_share_check(struct sk_buff *skb) { return skb_share_check(skb, GFP_ATOMIC); }
u16 baton_skb_protocol(const struct sk_buff *skb) { return (__force u16)skb->protocol; }
int baton_skb_ifindex(const struct sk_buff *skb) { return skb->dev ? skb->dev->ifindex : 0; }
struct net *baton_skb_dev_net(const struct sk_buff *skb) { return skb->dev ? dev_net(skb->dev) : NULL; }
int baton_skb_mac_header_len(const struct sk_buff *skb) { return skb_mac_header_len(skb); }

/* A KUnit case can make it fail (baton_kunit_fail_skb_allocs()). */
struct sk_buff *baton_alloc_skb(unsigned int len)
{
	KUNIT_STATIC_STUB_REDIRECT(baton_alloc_skb, len);
	return alloc_skb(len, GFP_ATOMIC);
}
unsigned char *baton_skb_put(struct sk_buff *skb, unsigned int len) { return skb_put(skb, len); }
unsigned int baton_skb_tailroom(const struct sk_buff *skb) { return skb_tailroom(skb); }
/* What dev_queue_xmit() expects of a frame built from its Ethernet header on. */
void baton_skb_prepare_xmit(struct sk_buff *skb, struct net_device *dev) { skb->dev = dev; skb->protocol = htons(ETH_P_IP); skb_reset_mac_header(skb); skb_set_network_header(skb, ETH_HLEN); }
int baton_dev_queue_xmit(struct sk_buff *skb) { return dev_queue_xmit(skb); }
struct net_device *baton_skb_dev(const struct sk_buff *skb) { return skb->dev; }

void baton_dev_hold(struct net_device *dev) { dev_hold(dev); }
void baton_dev_put(struct net_device *dev) { dev_put(dev); }
struct net *baton_dev_net(const struct net_device *dev) { return dev_net(dev); }
int baton_dev_ifindex(const struct net_device *dev) { return dev->ifindex; }
unsigned int baton_dev_mtu(const struct net_device *dev) { return READ_ONCE(dev->mtu); }
bool baton_dev_is_registered(const struct net_device *dev) { return dev->reg_state == NETREG_REGISTERED; }
struct net_device *baton_notifier_info_to_dev(void *ptr) { return netdev_notifier_info_to_dev(ptr); }

void baton_timer_setup(struct timer_list *timer, void (*fn)(struct timer_list *)) { timer_setup(timer, fn, 0); }
unsigned long baton_jiffies(void) { return jiffies; }
unsigned long baton_msecs_to_jiffies(unsigned int ms) { return msecs_to_jiffies(ms); }
u64 baton_boottime_secs(void) { return ktime_get_boottime_seconds(); }
u32 baton_boottime_ms(void) { return (u32)ktime_to_ms(ktime_get_boottime()); }
u64 baton_realtime_ms(void) { return ktime_to_ms(ktime_get_real()); }

void baton_init_delayed_work(struct delayed_work *dwork, void (*fn)(struct work_struct *)) { INIT_DELAYED_WORK(dwork, fn); }
bool baton_mod_delayed_work(struct delayed_work *dwork, unsigned long delay) { return mod_delayed_work(system_wq, dwork, delay); }

void __percpu *baton_alloc_percpu(size_t size, size_t align) { return __alloc_percpu(size, align); }
void baton_pcpu_add(u64 __percpu *base, unsigned int idx, u64 val) { this_cpu_add(base[idx], val); }
u64 *baton_per_cpu_ptr(u64 __percpu *base, unsigned int cpu) { return per_cpu_ptr(base, cpu); }
bool baton_cpu_possible(unsigned int cpu) { return cpu_possible(cpu); }
unsigned int baton_nr_cpu_ids(void) { return nr_cpu_ids; }

struct sk_buff *baton_genlmsg_new(void) { return genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL); }
void *baton_genlmsg_put_reply(struct sk_buff *skb, struct genl_info *info, const struct genl_family *family, int flags, u8 cmd) { return genlmsg_put(skb, info->snd_portid, info->snd_seq, family, flags, cmd); }
void *baton_genlmsg_put_dump(struct sk_buff *skb, struct netlink_callback *cb, const struct genl_family *family, u8 cmd) { return genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq, family, NLM_F_MULTI, cmd); }
void baton_genlmsg_end(struct sk_buff *skb, void *hdr) { genlmsg_end(skb, hdr); }
void baton_genlmsg_cancel(struct sk_buff *skb, void *hdr) { genlmsg_cancel(skb, hdr); }
int baton_genlmsg_reply(struct sk_buff *skb, struct genl_info *info) { return genlmsg_reply(skb, info); }
void baton_nlmsg_free(struct sk_buff *skb) { nlmsg_free(skb); }
struct nlattr *baton_nla_nest_start(struct sk_buff *skb, int attrtype) { return nla_nest_start(skb, attrtype); }
void baton_nla_nest_end(struct sk_buff *skb, struct nlattr *start) { nla_nest_end(skb, start); }
/* An attribute of attrlen bytes of payload, to be filled in; NULL without room. */
void *baton_nla_reserve(struct sk_buff *skb, int attrtype, int attrlen) { struct nlattr *a = nla_reserve(skb, attrtype, attrlen); return a ? nla_data(a) : NULL; }
const struct genl_info *baton_genl_info_dump(struct netlink_callback *cb) { return genl_info_dump(cb); }
struct net *baton_genl_info_net(const struct genl_info *info) { return genl_info_net(info); }
/* NL_SET_ERR_MSG_ATTR() wants a string literal; this is its assignment. */
void baton_extack_set(struct netlink_ext_ack *extack, const char *msg, const struct nlattr *attr) { if (extack) { extack->_msg = msg; extack->bad_attr = attr; } }
struct net *baton_cb_net(struct netlink_callback *cb) { return sock_net(cb->skb->sk); }
unsigned int baton_skb_len(const struct sk_buff *skb) { return skb->len; }

void baton_rcu_read_lock(void) { rcu_read_lock(); }
void baton_rcu_read_unlock(void) { rcu_read_unlock(); }

void *baton_net_generic(const struct net *net, unsigned int id) { return net_generic(net, id); }

#if IS_ENABLED(CONFIG_KUNIT)
void baton_kunit_set_failure(struct kunit *test) { kunit_set_failure(test); }

/* Pulls longer than this fail while a case has the stub below active: the
 * packet path meets a pull whose allocation failed. */
static unsigned int baton_test_pull_limit;
static bool baton_pskb_may_pull_limited(struct sk_buff *skb, unsigned int len)
{
	return len <= READ_ONCE(baton_test_pull_limit) && pskb_may_pull(skb, len);
}
/* For the rest of the running case, on its own thread only (KUnit static stubs). */
void baton_kunit_fail_pulls_over(struct kunit *test, unsigned int limit)
{
	WRITE_ONCE(baton_test_pull_limit, limit);
	kunit_activate_static_stub(test, baton_pskb_may_pull, baton_pskb_may_pull_limited);
}

static struct sk_buff *baton_alloc_skb_failing(unsigned int len) { return NULL; }
/* While fail is set, in the running case's thread, no skb can be allocated. */
void baton_kunit_fail_skb_allocs(struct kunit *test, bool fail)
{
	if (fail)
		kunit_activate_static_stub(test, baton_alloc_skb, baton_alloc_skb_failing);
	else
		kunit_deactivate_static_stub(test, baton_alloc_skb);
}

/* A kernel TCP socket listening on 0.0.0.0:port in net; NULL on failure. */
struct socket *baton_kunit_listen(struct net *net, u16 port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct socket *sock;

	if (sock_create_kern(net, AF_INET, SOCK_STREAM, IPPROTO_TCP, &sock))
		return NULL;
	if (kernel_bind(sock, (struct sockaddr *)&a, sizeof(a)) || kernel_listen(sock, 8)) {
		sock_release(sock);
		return NULL;
	}
	return sock;
}
void baton_kunit_sock_release(struct socket *sock) { sock_release(sock); }
/* The device's primary IPv4 address (network order), 0 if it has none. */
__be32 baton_kunit_dev_addr(struct net_device *dev) { return inet_select_addr(dev, 0, RT_SCOPE_UNIVERSE); }
#endif

void baton_skb_reserve(struct sk_buff *skb, int len) { skb_reserve(skb, len); }
/* What the receive path expects of an IPv4 packet built from its network header on. */
void baton_skb_prepare_rx(struct sk_buff *skb, struct net_device *dev) { skb->dev = dev; skb->protocol = htons(ETH_P_IP); skb->pkt_type = PACKET_HOST; skb_reset_network_header(skb); skb_reset_mac_header(skb); }
unsigned char *baton_skb_push(struct sk_buff *skb, unsigned int len) { return skb_push(skb, len); }
void baton_skb_set_dev(struct sk_buff *skb, struct net_device *dev) { skb->dev = dev; }
/* What ip_forward() and the bridge clear in a received packet that leaves by another device: its receive timestamp (wall clock; fq takes it for a departure time and drops it beyond its horizon), the checksum state of its receiver, and the ingress side's mark and priority (from its TOS as ip_forward sets it). */
void baton_skb_scrub_forward(struct sk_buff *skb) { skb_forward_csum(skb); skb_clear_tstamp(skb); skb->mark = 0; skb->priority = rt_tos2priority(ip_hdr(skb)->tos); }
const unsigned char *baton_dev_addr(const struct net_device *dev) { return dev->dev_addr; }
void baton_skb_set_protocol(struct sk_buff *skb, u16 proto) { skb->protocol = htons(proto); }
/* What ip_local_out() expects of a packet built from its IPv4 header on. */
void baton_skb_prepare_out(struct sk_buff *skb) { skb->protocol = htons(ETH_P_IP); skb_reset_network_header(skb); }
/* The route from saddr (a local address) to daddr; NULL if there is none. */
struct dst_entry *baton_ip_route_output(struct net *net, __be32 daddr, __be32 saddr) { struct rtable *rt = ip_route_output(net, daddr, saddr, 0, 0, RT_SCOPE_UNIVERSE); return IS_ERR(rt) ? NULL : &rt->dst; }
void baton_skb_dst_set(struct sk_buff *skb, struct dst_entry *dst) { skb_dst_set(skb, dst); }
int baton_ip_local_out(struct net *net, struct sk_buff *skb) { return ip_local_out(net, NULL, skb); }
struct sock *baton_skb_sk(const struct sk_buff *skb) { return skb->sk; }
bool baton_skb_csum_unnecessary(const struct sk_buff *skb) { return skb_csum_unnecessary(skb); }

struct sock *baton_tcp_listener(struct net *net, struct sk_buff *skb, __be32 saddr, __be16 sport, __be32 daddr, __be16 dport, int dif) { return inet_lookup_listener(net, net->ipv4.tcp_death_row.hashinfo, skb, 0, saddr, sport, daddr, dport, dif, 0); }
struct sock *baton_tcp_established(struct net *net, __be32 saddr, __be16 sport, __be32 daddr, __be16 dport, int dif) { return __inet_lookup_established(net, net->ipv4.tcp_death_row.hashinfo, saddr, sport, daddr, ntohs(dport), dif, 0); }
bool baton_sk_is_mptcp(const struct sock *sk) { return sk_is_mptcp(sk); }
bool baton_sk_time_wait(const struct sock *sk) { return sk->sk_state == TCP_TIME_WAIT; }
u32 baton_tw_rcv_nxt(const struct sock *sk) { return tcp_twsk(sk)->tw_rcv_nxt; }
/* As tcp_timewait_state_process() reads them: a timestamp only if one was seen. */
bool baton_tw_ts_recent(const struct sock *sk, u32 *ts_recent) { *ts_recent = tcp_twsk(sk)->tw_ts_recent; return tcp_twsk(sk)->tw_ts_recent_stamp != 0; }
/* Consumes the reference the lookup took, as inet_twsk_deschedule_put() does. */
void baton_tw_kill(struct sock *sk) { inet_twsk_deschedule_put(inet_twsk(sk)); }
struct request_sock *baton_reqsk_alloc(struct sock *listener) { return inet_reqsk_alloc(listener->sk_prot->rsk_prot, listener, false); }
void baton_reqsk_set_listener(struct request_sock *req, struct sock *listener) { req->rsk_listener = listener; req->syncookie = 1; }
void baton_reqsk_set_mss(struct request_sock *req, u16 mss) { req->mss = mss; }
void baton_reqsk_set_ts(struct request_sock *req, u32 ts_recent, u32 ts_off) { req->ts_recent = ts_recent; tcp_rsk(req)->ts_off = ts_off; tcp_rsk(req)->req_usec_ts = 0; }
void baton_ireq_set_wscale(struct request_sock *req, bool ok, u8 snd, u8 rcv) { inet_rsk(req)->wscale_ok = ok; inet_rsk(req)->snd_wscale = snd; inet_rsk(req)->rcv_wscale = rcv; }
void baton_ireq_set_flags(struct request_sock *req, bool tstamp_ok, bool sack_ok, bool ecn_ok) { inet_rsk(req)->tstamp_ok = tstamp_ok; inet_rsk(req)->sack_ok = sack_ok; inet_rsk(req)->ecn_ok = ecn_ok; }
/* As bpf_sk_assign_tcp_reqsk(): the skb carries the request sock to cookie_v4_check(). */
void baton_skb_set_reqsk(struct sk_buff *skb, struct request_sock *req) { skb_orphan(skb); skb->sk = req_to_sk(req); skb->destructor = sock_pfree; }
void baton_reqsk_free(struct request_sock *req) { reqsk_free(req); }
u32 baton_tcp_ts_now(void) { return tcp_ns_to_ts(false, tcp_clock_ns()); }
int baton_sysctl_tcp_syncookies(const struct net *net) { return READ_ONCE(net->ipv4.sysctl_tcp_syncookies); }
int baton_sysctl_tcp_timestamps(const struct net *net) { return READ_ONCE(net->ipv4.sysctl_tcp_timestamps); }
int baton_sysctl_tcp_sack(const struct net *net) { return READ_ONCE(net->ipv4.sysctl_tcp_sack); }
int baton_sysctl_tcp_window_scaling(const struct net *net) { return READ_ONCE(net->ipv4.sysctl_tcp_window_scaling); }

unsigned long baton_loadavg_1min(void) { return READ_ONCE(avenrun[0]); }
unsigned int baton_num_online_cpus(void) { return num_online_cpus(); }
u32 baton_sk_ack_backlog(const struct sock *sk) { return READ_ONCE(sk->sk_ack_backlog); }
u32 baton_sk_max_ack_backlog(const struct sock *sk) { return READ_ONCE(sk->sk_max_ack_backlog); }

void baton_local_bh_disable(void) { local_bh_disable(); }
void baton_local_bh_enable(void) { local_bh_enable(); }
