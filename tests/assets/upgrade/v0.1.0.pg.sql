--
-- PostgreSQL database dump
--

\restrict YlZG4RS7vVi861gigfoiKIe5rfg0c7NeLdPzPbC9ydjzFNuLmigfpdy0NcluQEZ

-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: upgrade_fixture; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA upgrade_fixture;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: audience_markings; Type: TABLE; Schema: upgrade_fixture; Owner: -
--

CREATE TABLE upgrade_fixture.audience_markings (
    marking_id text NOT NULL,
    author_identity text,
    entries text NOT NULL
);


--
-- Name: clock; Type: TABLE; Schema: upgrade_fixture; Owner: -
--

CREATE TABLE upgrade_fixture.clock (
    id integer NOT NULL,
    last_date_added text NOT NULL,
    last_seq bigint NOT NULL,
    CONSTRAINT clock_id_check CHECK ((id = 1))
);


--
-- Name: deliveries; Type: TABLE; Schema: upgrade_fixture; Owner: -
--

CREATE TABLE upgrade_fixture.deliveries (
    member text NOT NULL,
    stix_id text NOT NULL,
    version text NOT NULL,
    delivered text NOT NULL
);


--
-- Name: group_members; Type: TABLE; Schema: upgrade_fixture; Owner: -
--

CREATE TABLE upgrade_fixture.group_members (
    group_name text NOT NULL,
    member text NOT NULL
);


--
-- Name: keys; Type: TABLE; Schema: upgrade_fixture; Owner: -
--

CREATE TABLE upgrade_fixture.keys (
    key_id text NOT NULL,
    member text,
    identity text NOT NULL,
    public_key text NOT NULL,
    not_before text NOT NULL,
    not_after text,
    revoked_since text,
    created text NOT NULL
);


--
-- Name: marking_audience; Type: TABLE; Schema: upgrade_fixture; Owner: -
--

CREATE TABLE upgrade_fixture.marking_audience (
    marking_id text NOT NULL,
    principal text NOT NULL
);


--
-- Name: marking_users; Type: TABLE; Schema: upgrade_fixture; Owner: -
--

CREATE TABLE upgrade_fixture.marking_users (
    marking_id text NOT NULL,
    author_identity text NOT NULL
);


--
-- Name: members; Type: TABLE; Schema: upgrade_fixture; Owner: -
--

CREATE TABLE upgrade_fixture.members (
    id text NOT NULL,
    identity text NOT NULL,
    name text NOT NULL,
    kind text NOT NULL,
    sector text NOT NULL,
    economy text NOT NULL,
    status text NOT NULL,
    created text NOT NULL
);


--
-- Name: object_audience; Type: TABLE; Schema: upgrade_fixture; Owner: -
--

CREATE TABLE upgrade_fixture.object_audience (
    seq bigint NOT NULL,
    principal text NOT NULL
);


--
-- Name: object_ends; Type: TABLE; Schema: upgrade_fixture; Owner: -
--

CREATE TABLE upgrade_fixture.object_ends (
    seq bigint NOT NULL,
    ref_id text NOT NULL
);


--
-- Name: object_markings; Type: TABLE; Schema: upgrade_fixture; Owner: -
--

CREATE TABLE upgrade_fixture.object_markings (
    seq bigint NOT NULL,
    marking_id text NOT NULL
);


--
-- Name: objects; Type: TABLE; Schema: upgrade_fixture; Owner: -
--

CREATE TABLE upgrade_fixture.objects (
    seq bigint NOT NULL,
    stix_id text NOT NULL,
    type text NOT NULL,
    spec_version text NOT NULL,
    version text NOT NULL,
    created text,
    date_added text NOT NULL,
    author_identity text,
    poster_member text,
    tlp text,
    body text NOT NULL,
    deleted_at text
);


--
-- Name: rate_counts; Type: TABLE; Schema: upgrade_fixture; Owner: -
--

CREATE TABLE upgrade_fixture.rate_counts (
    caller text NOT NULL,
    window_start bigint NOT NULL,
    requests bigint NOT NULL
);


--
-- Name: rule_values; Type: TABLE; Schema: upgrade_fixture; Owner: -
--

CREATE TABLE upgrade_fixture.rule_values (
    rule_id text NOT NULL,
    value text NOT NULL
);


--
-- Name: rules; Type: TABLE; Schema: upgrade_fixture; Owner: -
--

CREATE TABLE upgrade_fixture.rules (
    rule_id text NOT NULL,
    member text NOT NULL,
    identity text NOT NULL,
    direction text NOT NULL,
    effect text NOT NULL,
    field text,
    created text NOT NULL
);


--
-- Name: schema_version; Type: TABLE; Schema: upgrade_fixture; Owner: -
--

CREATE TABLE upgrade_fixture.schema_version (
    version integer NOT NULL
);


--
-- Name: secrets; Type: TABLE; Schema: upgrade_fixture; Owner: -
--

CREATE TABLE upgrade_fixture.secrets (
    name text NOT NULL,
    value bytea NOT NULL
);


--
-- Name: sharing_groups; Type: TABLE; Schema: upgrade_fixture; Owner: -
--

CREATE TABLE upgrade_fixture.sharing_groups (
    name text NOT NULL,
    created text NOT NULL
);


--
-- Name: statuses; Type: TABLE; Schema: upgrade_fixture; Owner: -
--

CREATE TABLE upgrade_fixture.statuses (
    id text NOT NULL,
    member text NOT NULL,
    created text NOT NULL,
    body text NOT NULL
);


--
-- Name: tokens; Type: TABLE; Schema: upgrade_fixture; Owner: -
--

CREATE TABLE upgrade_fixture.tokens (
    token_id text NOT NULL,
    member text NOT NULL,
    token_hash text NOT NULL,
    scope text NOT NULL,
    created text NOT NULL,
    expires text,
    revoked text
);


--
-- Data for Name: audience_markings; Type: TABLE DATA; Schema: upgrade_fixture; Owner: -
--

COPY upgrade_fixture.audience_markings (marking_id, author_identity, entries) FROM stdin;
marking-definition--ff544a81-ab6a-4024-a2dc-cb16788076aa	identity--78237e9c-46e5-4a90-bd70-009368946834	["group:grid", "sector:energy"]
marking-definition--dd855b28-5481-4256-9bb7-e43bab34def4	identity--78237e9c-46e5-4a90-bd70-009368946834	["member:identity--11b4212d-4e15-450f-b422-977753d2754f"]
\.


--
-- Data for Name: clock; Type: TABLE DATA; Schema: upgrade_fixture; Owner: -
--

COPY upgrade_fixture.clock (id, last_date_added, last_seq) FROM stdin;
1	2026-12-02T14:53:52.842524Z	19
\.


--
-- Data for Name: deliveries; Type: TABLE DATA; Schema: upgrade_fixture; Owner: -
--

COPY upgrade_fixture.deliveries (member, stix_id, version, delivered) FROM stdin;
\.


--
-- Data for Name: group_members; Type: TABLE DATA; Schema: upgrade_fixture; Owner: -
--

COPY upgrade_fixture.group_members (group_name, member) FROM stdin;
grid	ee51d21c-d31b-4033-8a87-c20a03a78774
\.


--
-- Data for Name: keys; Type: TABLE DATA; Schema: upgrade_fixture; Owner: -
--

COPY upgrade_fixture.keys (key_id, member, identity, public_key, not_before, not_after, revoked_since, created) FROM stdin;
0776f0d0547391deabe8a560db59e5b75a5cd0ef9aaae5769e620b53f14931e1	\N	identity--46da1857-3b7d-40fe-b5bd-b6cc5294f921	-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAg1jUAkcmsTCoJcr9tPwrv5rAbJlKHALbEj2zI+52tiY=\n-----END PUBLIC KEY-----\n	2026-12-02T14:53:39.603953Z	\N	\N	2026-12-02T14:53:39.603953Z
479cdc513e98387ecc2a214e031b28fa3a311de9bfb2a380871edf1a9d5ab85e	ef557e7f-d046-4718-a813-747012b3c667	identity--78237e9c-46e5-4a90-bd70-009368946834	-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAQkSa5TLsMVR/ylgGQHtG4AvRr67AFfCQrBAUF/dU3qg=\n-----END PUBLIC KEY-----\n	2026-12-02T14:53:41.193960Z	2028-12-01T14:53:41.193960Z	\N	2026-12-02T14:53:41.193960Z
c98449b29cc50e89368a8f42540bf5f2cf93a7358c9cd1c740563665adedce6d	135f91af-2353-4f41-afd0-564afd914c17	identity--11b4212d-4e15-450f-b422-977753d2754f	-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAP24Eo/OYheIwtZNIxfUQVkyYgF/Eevow/X8c2v6EndI=\n-----END PUBLIC KEY-----\n	2026-12-02T14:53:43.198738Z	2028-12-01T14:53:43.198738Z	\N	2026-12-02T14:53:43.198738Z
b55832a13868a90395562849281ccc285936d4e14c1ced4fca6898e968f22a44	ee51d21c-d31b-4033-8a87-c20a03a78774	identity--35c79b03-f8c4-4d78-8c9d-26eb80e63d1c	-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA/sEBluVJk5Q3dPk6BX6ZEl9/Mp9+M0ekMtKduXL0r2Q=\n-----END PUBLIC KEY-----\n	2026-12-02T14:53:44.837415Z	2028-12-01T14:53:44.837415Z	\N	2026-12-02T14:53:44.837415Z
de4e1b2e1fbdcded1304fd8c4408dea5f488910e04d60b83c3116e6189063e1e	ef557e7f-d046-4718-a813-747012b3c667	identity--78237e9c-46e5-4a90-bd70-009368946834	-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAHMHEPs7TkAGmk8LGCsvWywAGUtEz8ojib8qpIUrmBkE=\n-----END PUBLIC KEY-----\n	2026-12-02T14:53:47.267215Z	2028-12-01T14:53:47.267215Z	2026-12-02T14:53:47.768323Z	2026-12-02T14:53:47.267215Z
\.


--
-- Data for Name: marking_audience; Type: TABLE DATA; Schema: upgrade_fixture; Owner: -
--

COPY upgrade_fixture.marking_audience (marking_id, principal) FROM stdin;
marking-definition--ff544a81-ab6a-4024-a2dc-cb16788076aa	group:grid
marking-definition--ff544a81-ab6a-4024-a2dc-cb16788076aa	sector:energy
marking-definition--dd855b28-5481-4256-9bb7-e43bab34def4	member:identity--11b4212d-4e15-450f-b422-977753d2754f
\.


--
-- Data for Name: marking_users; Type: TABLE DATA; Schema: upgrade_fixture; Owner: -
--

COPY upgrade_fixture.marking_users (marking_id, author_identity) FROM stdin;
marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487	identity--46da1857-3b7d-40fe-b5bd-b6cc5294f921
marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb	identity--46da1857-3b7d-40fe-b5bd-b6cc5294f921
marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487	identity--78237e9c-46e5-4a90-bd70-009368946834
marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb	identity--78237e9c-46e5-4a90-bd70-009368946834
marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421	identity--78237e9c-46e5-4a90-bd70-009368946834
marking-definition--ff544a81-ab6a-4024-a2dc-cb16788076aa	identity--78237e9c-46e5-4a90-bd70-009368946834
marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1	identity--78237e9c-46e5-4a90-bd70-009368946834
marking-definition--dd855b28-5481-4256-9bb7-e43bab34def4	identity--78237e9c-46e5-4a90-bd70-009368946834
marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb	identity--11b4212d-4e15-450f-b422-977753d2754f
marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb	identity--35c79b03-f8c4-4d78-8c9d-26eb80e63d1c
\.


--
-- Data for Name: members; Type: TABLE DATA; Schema: upgrade_fixture; Owner: -
--

COPY upgrade_fixture.members (id, identity, name, kind, sector, economy, status, created) FROM stdin;
ef557e7f-d046-4718-a813-747012b3c667	identity--78237e9c-46e5-4a90-bd70-009368946834	cert-a	government	government	DE	active	2026-12-02T14:53:40.048356Z
135f91af-2353-4f41-afd0-564afd914c17	identity--11b4212d-4e15-450f-b422-977753d2754f	bank-b	private	financial-services	FR	active	2026-12-02T14:53:42.014399Z
ee51d21c-d31b-4033-8a87-c20a03a78774	identity--35c79b03-f8c4-4d78-8c9d-26eb80e63d1c	grid-c	private	energy	NL	active	2026-12-02T14:53:43.724707Z
\.


--
-- Data for Name: object_audience; Type: TABLE DATA; Schema: upgrade_fixture; Owner: -
--

COPY upgrade_fixture.object_audience (seq, principal) FROM stdin;
1	public
2	public
3	public
4	members
5	members
6	members
9	public
10	members
11	group:grid
11	sector:energy
12	member:identity--11b4212d-4e15-450f-b422-977753d2754f
13	public
14	members
15	members
16	members
17	members
18	members
19	members
\.


--
-- Data for Name: object_ends; Type: TABLE DATA; Schema: upgrade_fixture; Owner: -
--

COPY upgrade_fixture.object_ends (seq, ref_id) FROM stdin;
16	indicator--ae446429-12fe-4cff-9d82-023d328866ff
16	indicator--e248d660-f94d-4cf0-bc80-410304b0e539
17	indicator--ae446429-12fe-4cff-9d82-023d328866ff
17	identity--11b4212d-4e15-450f-b422-977753d2754f
\.


--
-- Data for Name: object_markings; Type: TABLE DATA; Schema: upgrade_fixture; Owner: -
--

COPY upgrade_fixture.object_markings (seq, marking_id) FROM stdin;
1	marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487
2	marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487
3	marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487
4	marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb
5	marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb
6	marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb
9	marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487
10	marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb
11	marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421
11	marking-definition--ff544a81-ab6a-4024-a2dc-cb16788076aa
12	marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1
12	marking-definition--dd855b28-5481-4256-9bb7-e43bab34def4
13	marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487
14	marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb
15	marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb
16	marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb
17	marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb
18	marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb
19	marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb
\.


--
-- Data for Name: objects; Type: TABLE DATA; Schema: upgrade_fixture; Owner: -
--

COPY upgrade_fixture.objects (seq, stix_id, type, spec_version, version, created, date_added, author_identity, poster_member, tlp, body, deleted_at) FROM stdin;
1	identity--46da1857-3b7d-40fe-b5bd-b6cc5294f921	identity	2.1	2026-12-02T14:53:39.621000Z	2026-12-02T14:53:39.621000Z	2026-12-02T14:53:39.634607Z	identity--46da1857-3b7d-40fe-b5bd-b6cc5294f921	\N	clear	{"type":"identity","spec_version":"2.1","id":"identity--46da1857-3b7d-40fe-b5bd-b6cc5294f921","created":"2026-12-02T14:53:39.621Z","modified":"2026-12-02T14:53:39.621Z","name":"The exchange","identity_class":"system","description":"The exchange itself: signs member identities and its own definitions","object_marking_refs":["marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"],"created_by_ref":"identity--46da1857-3b7d-40fe-b5bd-b6cc5294f921","extensions":{"extension-definition--53903a24-06b3-4ef5-b7fe-fd3d5d29b3d1":{"extension_type":"property-extension","alg":"Ed25519","key_id":"0776f0d0547391deabe8a560db59e5b75a5cd0ef9aaae5769e620b53f14931e1","signature":"F_gWjFfF5PZqRn8j96SfQhlt0txm-6mE6JGce4M107AI02LduIfb5m80cd0ZxTDL86Kq68eCrfJ7YEhCHyzdDA"}}}	\N
2	extension-definition--53903a24-06b3-4ef5-b7fe-fd3d5d29b3d1	extension-definition	2.1	2026-12-02T14:53:39.621000Z	2026-12-02T14:53:39.621000Z	2026-12-02T14:53:39.641786Z	identity--46da1857-3b7d-40fe-b5bd-b6cc5294f921	\N	clear	{"type":"extension-definition","spec_version":"2.1","id":"extension-definition--53903a24-06b3-4ef5-b7fe-fd3d5d29b3d1","created":"2026-12-02T14:53:39.621Z","modified":"2026-12-02T14:53:39.621Z","name":"Exchange object signature","description":"An Ed25519 signature by the publishing member over the RFC 8785 (JCS) serialisation, UTF-8, of the object with this extension entry removed (and with extensions removed when it is then empty). key_id is the lowercase hex SHA-256 of the raw 32-byte public key, listed in the exchange's key directory (GET /api/v1/keys/); signature is base64url without padding.","schema":"JSON Schema (draft 2020-12): schemas/signature-extension.schema.json in the exchange distribution; specification: docs/signing.md.","version":"1.0.0","extension_types":["property-extension"],"object_marking_refs":["marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"],"created_by_ref":"identity--46da1857-3b7d-40fe-b5bd-b6cc5294f921","extensions":{"extension-definition--53903a24-06b3-4ef5-b7fe-fd3d5d29b3d1":{"extension_type":"property-extension","alg":"Ed25519","key_id":"0776f0d0547391deabe8a560db59e5b75a5cd0ef9aaae5769e620b53f14931e1","signature":"ISsDNKLOI6PcnEsKiZRuW4iOM-OzE6GHxMZqgdHmj-FMA9faLQ6CeENPwQLMCOFMshj3R1rvg3YbimW_FE8gBQ"}}}	\N
3	extension-definition--08f4bf56-1ae6-4882-9203-9e8188a7443c	extension-definition	2.1	2026-12-02T14:53:39.621000Z	2026-12-02T14:53:39.621000Z	2026-12-02T14:53:39.642775Z	identity--46da1857-3b7d-40fe-b5bd-b6cc5294f921	\N	clear	{"type":"extension-definition","spec_version":"2.1","id":"extension-definition--08f4bf56-1ae6-4882-9203-9e8188a7443c","created":"2026-12-02T14:53:39.621Z","modified":"2026-12-02T14:53:39.621Z","name":"Exchange audience","description":"On a marking-definition: the audience of the objects that reference it in object_marking_refs. A reader must match at least one entry: member:identity--UUID, group:NAME, sector:SECTOR, economy:CC (ISO 3166-1 alpha-2) or kind:government|private. Required with TLP:AMBER, TLP:AMBER+STRICT and TLP:RED; it narrows any TLP.","schema":"JSON Schema (draft 2020-12): schemas/audience-extension.schema.json in the exchange distribution.","version":"1.0.0","extension_types":["property-extension"],"object_marking_refs":["marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"],"created_by_ref":"identity--46da1857-3b7d-40fe-b5bd-b6cc5294f921","extensions":{"extension-definition--53903a24-06b3-4ef5-b7fe-fd3d5d29b3d1":{"extension_type":"property-extension","alg":"Ed25519","key_id":"0776f0d0547391deabe8a560db59e5b75a5cd0ef9aaae5769e620b53f14931e1","signature":"Q3LEltHzvnKNhQEyi0nLzDu-GT7ezHOuOcsiP6BN2BH1ktrSOeJfIhWf6nO-lSuiGHCr4uG-2YPvZQKZ0Gp4CA"}}}	\N
4	identity--78237e9c-46e5-4a90-bd70-009368946834	identity	2.1	2026-12-02T14:53:40.048000Z	2026-12-02T14:53:40.048000Z	2026-12-02T14:53:40.062778Z	identity--46da1857-3b7d-40fe-b5bd-b6cc5294f921	\N	green	{"type":"identity","spec_version":"2.1","id":"identity--78237e9c-46e5-4a90-bd70-009368946834","created":"2026-12-02T14:53:40.048Z","modified":"2026-12-02T14:53:40.048Z","name":"cert-a","identity_class":"organization","sectors":["government"],"roles":["government"],"description":"Government member of the exchange, economy DE","object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"],"created_by_ref":"identity--46da1857-3b7d-40fe-b5bd-b6cc5294f921","extensions":{"extension-definition--53903a24-06b3-4ef5-b7fe-fd3d5d29b3d1":{"extension_type":"property-extension","alg":"Ed25519","key_id":"0776f0d0547391deabe8a560db59e5b75a5cd0ef9aaae5769e620b53f14931e1","signature":"okxROC3dfA1X80AdHjK_lnNZ9cTgiRMy6LFnRIiH7t6eYlAaHPYZRHf-vndByJRP8XkazhqfFyYiIBYpq4zoAQ"}}}	\N
5	identity--11b4212d-4e15-450f-b422-977753d2754f	identity	2.1	2026-12-02T14:53:42.014000Z	2026-12-02T14:53:42.014000Z	2026-12-02T14:53:42.032510Z	identity--46da1857-3b7d-40fe-b5bd-b6cc5294f921	\N	green	{"type":"identity","spec_version":"2.1","id":"identity--11b4212d-4e15-450f-b422-977753d2754f","created":"2026-12-02T14:53:42.014Z","modified":"2026-12-02T14:53:42.014Z","name":"bank-b","identity_class":"organization","sectors":["financial-services"],"roles":["private"],"description":"Private member of the exchange, economy FR","object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"],"created_by_ref":"identity--46da1857-3b7d-40fe-b5bd-b6cc5294f921","extensions":{"extension-definition--53903a24-06b3-4ef5-b7fe-fd3d5d29b3d1":{"extension_type":"property-extension","alg":"Ed25519","key_id":"0776f0d0547391deabe8a560db59e5b75a5cd0ef9aaae5769e620b53f14931e1","signature":"_J9uRyjo53POv_XQMUE6INLjdxyvCjr6drXuLbiIT0kKi4XkpeLkNhcEWWUtQqcR-i6y1If2dropGYSwuEnnBw"}}}	\N
6	identity--35c79b03-f8c4-4d78-8c9d-26eb80e63d1c	identity	2.1	2026-12-02T14:53:43.724000Z	2026-12-02T14:53:43.724000Z	2026-12-02T14:53:43.730831Z	identity--46da1857-3b7d-40fe-b5bd-b6cc5294f921	\N	green	{"type":"identity","spec_version":"2.1","id":"identity--35c79b03-f8c4-4d78-8c9d-26eb80e63d1c","created":"2026-12-02T14:53:43.724Z","modified":"2026-12-02T14:53:43.724Z","name":"grid-c","identity_class":"organization","sectors":["energy"],"roles":["private"],"description":"Private member of the exchange, economy NL","object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"],"created_by_ref":"identity--46da1857-3b7d-40fe-b5bd-b6cc5294f921","extensions":{"extension-definition--53903a24-06b3-4ef5-b7fe-fd3d5d29b3d1":{"extension_type":"property-extension","alg":"Ed25519","key_id":"0776f0d0547391deabe8a560db59e5b75a5cd0ef9aaae5769e620b53f14931e1","signature":"hkFULrGw_hgQPv9v99OAFjlMa6ezPEeOognaEtoZ7tCOI-NeleRN63oI1lZMBkz56dYoCYUb4EdlL3ZDi5fmDw"}}}	\N
7	marking-definition--ff544a81-ab6a-4024-a2dc-cb16788076aa	marking-definition	2.1	2026-12-02T14:53:48.716000Z	2026-12-02T14:53:48.716000Z	2026-12-02T14:53:51.067757Z	identity--78237e9c-46e5-4a90-bd70-009368946834	ef557e7f-d046-4718-a813-747012b3c667	\N	{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--ff544a81-ab6a-4024-a2dc-cb16788076aa","created":"2026-12-02T14:53:48.716Z","extensions":{"extension-definition--08f4bf56-1ae6-4882-9203-9e8188a7443c":{"extension_type":"property-extension","audience":["group:grid","sector:energy"]},"extension-definition--53903a24-06b3-4ef5-b7fe-fd3d5d29b3d1":{"extension_type":"property-extension","alg":"Ed25519","key_id":"479cdc513e98387ecc2a214e031b28fa3a311de9bfb2a380871edf1a9d5ab85e","signature":"uSVsndqrTy9KHUJvUpg9xohz6y05bNNmjBTFkCtnFOCtqwDS5r_A3mQvrRxtd1l_b35IYyfBODvl-dRZhFagCA"}},"created_by_ref":"identity--78237e9c-46e5-4a90-bd70-009368946834"}	\N
8	marking-definition--dd855b28-5481-4256-9bb7-e43bab34def4	marking-definition	2.1	2026-12-02T14:53:48.716000Z	2026-12-02T14:53:48.716000Z	2026-12-02T14:53:51.070031Z	identity--78237e9c-46e5-4a90-bd70-009368946834	ef557e7f-d046-4718-a813-747012b3c667	\N	{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--dd855b28-5481-4256-9bb7-e43bab34def4","created":"2026-12-02T14:53:48.716Z","extensions":{"extension-definition--08f4bf56-1ae6-4882-9203-9e8188a7443c":{"extension_type":"property-extension","audience":["member:identity--11b4212d-4e15-450f-b422-977753d2754f"]},"extension-definition--53903a24-06b3-4ef5-b7fe-fd3d5d29b3d1":{"extension_type":"property-extension","alg":"Ed25519","key_id":"479cdc513e98387ecc2a214e031b28fa3a311de9bfb2a380871edf1a9d5ab85e","signature":"GlhW10863gVsmmPQ-HIaFrpfjwH7m54JuRs1Lt8vOhODLWQDPg05tn0aUcytjmJFy-skiPSizGYxxk6NvTWeBw"}},"created_by_ref":"identity--78237e9c-46e5-4a90-bd70-009368946834"}	\N
9	indicator--e248d660-f94d-4cf0-bc80-410304b0e539	indicator	2.1	2026-12-02T14:53:48.716000Z	2026-12-02T14:53:48.716000Z	2026-12-02T14:53:51.071377Z	identity--78237e9c-46e5-4a90-bd70-009368946834	ef557e7f-d046-4718-a813-747012b3c667	clear	{"type":"indicator","spec_version":"2.1","id":"indicator--e248d660-f94d-4cf0-bc80-410304b0e539","created":"2026-12-02T14:53:48.716Z","modified":"2026-12-02T14:53:48.716Z","object_marking_refs":["marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"],"name":"upgrade fixture","pattern_type":"stix","pattern":"[ipv4-addr:value = '198.51.100.8']","valid_from":"2026-12-02T14:53:48.716Z","created_by_ref":"identity--78237e9c-46e5-4a90-bd70-009368946834","extensions":{"extension-definition--53903a24-06b3-4ef5-b7fe-fd3d5d29b3d1":{"extension_type":"property-extension","alg":"Ed25519","key_id":"479cdc513e98387ecc2a214e031b28fa3a311de9bfb2a380871edf1a9d5ab85e","signature":"_MNRBZNz-6vul2aizsZ2OY1jgz-NS7qOQATZ0jJdsOtG1bpZ94S8gZKvjM8mYIoxgNqzXzYJkGLkpDto0xvMCg"}}}	\N
10	indicator--ae446429-12fe-4cff-9d82-023d328866ff	indicator	2.1	2026-12-02T14:53:48.716000Z	2026-12-02T14:53:48.716000Z	2026-12-02T14:53:51.073961Z	identity--78237e9c-46e5-4a90-bd70-009368946834	ef557e7f-d046-4718-a813-747012b3c667	green	{"type":"indicator","spec_version":"2.1","id":"indicator--ae446429-12fe-4cff-9d82-023d328866ff","created":"2026-12-02T14:53:48.716Z","modified":"2026-12-02T14:53:48.716Z","object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"],"name":"upgrade fixture","pattern_type":"stix","pattern":"[ipv4-addr:value = '198.51.100.218']","valid_from":"2026-12-02T14:53:48.716Z","created_by_ref":"identity--78237e9c-46e5-4a90-bd70-009368946834","extensions":{"extension-definition--53903a24-06b3-4ef5-b7fe-fd3d5d29b3d1":{"extension_type":"property-extension","alg":"Ed25519","key_id":"479cdc513e98387ecc2a214e031b28fa3a311de9bfb2a380871edf1a9d5ab85e","signature":"Ea_3fmPr35weLSy6AUTzeIRl3pbaBFlYK2pCObyo82SZlApr8n57J4r4b5dNcXEldTJbhX5dy8-oIH8TbD_tAg"}}}	\N
11	indicator--3753b352-e5ce-4743-828a-de2cf5893dfd	indicator	2.1	2026-12-02T14:53:48.716000Z	2026-12-02T14:53:48.716000Z	2026-12-02T14:53:51.075133Z	identity--78237e9c-46e5-4a90-bd70-009368946834	ef557e7f-d046-4718-a813-747012b3c667	amber	{"type":"indicator","spec_version":"2.1","id":"indicator--3753b352-e5ce-4743-828a-de2cf5893dfd","created":"2026-12-02T14:53:48.716Z","modified":"2026-12-02T14:53:48.716Z","object_marking_refs":["marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421","marking-definition--ff544a81-ab6a-4024-a2dc-cb16788076aa"],"name":"upgrade fixture","pattern_type":"stix","pattern":"[ipv4-addr:value = '198.51.100.130']","valid_from":"2026-12-02T14:53:48.716Z","created_by_ref":"identity--78237e9c-46e5-4a90-bd70-009368946834","extensions":{"extension-definition--53903a24-06b3-4ef5-b7fe-fd3d5d29b3d1":{"extension_type":"property-extension","alg":"Ed25519","key_id":"479cdc513e98387ecc2a214e031b28fa3a311de9bfb2a380871edf1a9d5ab85e","signature":"i6BOCgjzZjGlOkoXWsV6ypar1KrYwvMNVk4jGC4Dv45wh9d23nZBQPfkSih3rak4L51NTQa-0QVIeViTk3yzDg"}}}	\N
12	indicator--3e3d8448-e449-4416-82b9-bf2697be6fb5	indicator	2.1	2026-12-02T14:53:48.716000Z	2026-12-02T14:53:48.716000Z	2026-12-02T14:53:51.076033Z	identity--78237e9c-46e5-4a90-bd70-009368946834	ef557e7f-d046-4718-a813-747012b3c667	red	{"type":"indicator","spec_version":"2.1","id":"indicator--3e3d8448-e449-4416-82b9-bf2697be6fb5","created":"2026-12-02T14:53:48.716Z","modified":"2026-12-02T14:53:48.716Z","object_marking_refs":["marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1","marking-definition--dd855b28-5481-4256-9bb7-e43bab34def4"],"name":"upgrade fixture","pattern_type":"stix","pattern":"[ipv4-addr:value = '198.51.100.40']","valid_from":"2026-12-02T14:53:48.716Z","created_by_ref":"identity--78237e9c-46e5-4a90-bd70-009368946834","extensions":{"extension-definition--53903a24-06b3-4ef5-b7fe-fd3d5d29b3d1":{"extension_type":"property-extension","alg":"Ed25519","key_id":"479cdc513e98387ecc2a214e031b28fa3a311de9bfb2a380871edf1a9d5ab85e","signature":"IDilBY-he4Aii0GCodDzLKbZJldvVnzOV14M_tTxl5UOcULgkl1tl-EYopKcICljcH_GyM_GOOeUyNKgV_KlBw"}}}	\N
13	report--b1c35546-2093-459b-bbd1-bf730e58d1bb	report	2.1	2026-12-02T14:53:48.716000Z	2026-12-02T14:53:48.716000Z	2026-12-02T14:53:51.077317Z	identity--78237e9c-46e5-4a90-bd70-009368946834	ef557e7f-d046-4718-a813-747012b3c667	clear	{"type":"report","spec_version":"2.1","id":"report--b1c35546-2093-459b-bbd1-bf730e58d1bb","created":"2026-12-02T14:53:48.716Z","modified":"2026-12-02T14:53:48.716Z","object_marking_refs":["marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"],"name":"Fixture bulletin","published":"2026-12-02T14:53:48.716Z","report_types":["threat-report"],"object_refs":["indicator--e248d660-f94d-4cf0-bc80-410304b0e539"],"created_by_ref":"identity--78237e9c-46e5-4a90-bd70-009368946834","extensions":{"extension-definition--53903a24-06b3-4ef5-b7fe-fd3d5d29b3d1":{"extension_type":"property-extension","alg":"Ed25519","key_id":"479cdc513e98387ecc2a214e031b28fa3a311de9bfb2a380871edf1a9d5ab85e","signature":"8FJBUVrggd5OULlg1Tu-vJqxfj04XL1ReiLVaijB5FI1ymnoJovZS620Z8MJKK2_A57siylEaRD8az0qfBVfDQ"}}}	\N
14	note--c63c3aaf-3496-4255-8483-02ac8c1eb96d	note	2.1	2026-12-02T14:53:48.716000Z	2026-12-02T14:53:48.716000Z	2026-12-02T14:53:51.078402Z	identity--78237e9c-46e5-4a90-bd70-009368946834	ef557e7f-d046-4718-a813-747012b3c667	green	{"type":"note","spec_version":"2.1","id":"note--c63c3aaf-3496-4255-8483-02ac8c1eb96d","created":"2026-12-02T14:53:48.716Z","modified":"2026-12-02T14:53:48.716Z","object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"],"content":"a note","object_refs":["indicator--ae446429-12fe-4cff-9d82-023d328866ff"],"created_by_ref":"identity--78237e9c-46e5-4a90-bd70-009368946834","extensions":{"extension-definition--53903a24-06b3-4ef5-b7fe-fd3d5d29b3d1":{"extension_type":"property-extension","alg":"Ed25519","key_id":"479cdc513e98387ecc2a214e031b28fa3a311de9bfb2a380871edf1a9d5ab85e","signature":"Vfc5P8fPpilTd9ZMPnHuliWrmASkBHI2AdvB8kif07HEsXW7lVB6O6acMIcKye7E0RryfOLbLvp4-lB3uZbHBA"}}}	\N
15	indicator--ae446429-12fe-4cff-9d82-023d328866ff	indicator	2.1	2026-12-02T14:53:52.213000Z	2026-12-02T14:53:48.716000Z	2026-12-02T14:53:51.544449Z	identity--78237e9c-46e5-4a90-bd70-009368946834	ef557e7f-d046-4718-a813-747012b3c667	green	{"type":"indicator","spec_version":"2.1","id":"indicator--ae446429-12fe-4cff-9d82-023d328866ff","created":"2026-12-02T14:53:48.716Z","modified":"2026-12-02T14:53:52.213Z","object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"],"name":"upgrade fixture","pattern_type":"stix","pattern":"[ipv4-addr:value = '198.51.100.218']","valid_from":"2026-12-02T14:53:48.716Z","created_by_ref":"identity--78237e9c-46e5-4a90-bd70-009368946834","description":"second version","extensions":{"extension-definition--53903a24-06b3-4ef5-b7fe-fd3d5d29b3d1":{"extension_type":"property-extension","alg":"Ed25519","key_id":"479cdc513e98387ecc2a214e031b28fa3a311de9bfb2a380871edf1a9d5ab85e","signature":"rpGsM__uzp1ZAkAviwWFRa1CoXgdvk8_N9EjxXJCqFhyNSL2A-kUDJJSh0MT18JIfb7RMvzeZyyOTv0IlJOvAg"}}}	\N
16	relationship--93759a79-531f-49a5-bd2a-4daffe1d5dbd	relationship	2.1	2026-12-02T14:53:51.647000Z	2026-12-02T14:53:51.647000Z	2026-12-02T14:53:52.299411Z	identity--11b4212d-4e15-450f-b422-977753d2754f	135f91af-2353-4f41-afd0-564afd914c17	green	{"type":"relationship","spec_version":"2.1","id":"relationship--93759a79-531f-49a5-bd2a-4daffe1d5dbd","created":"2026-12-02T14:53:51.647Z","modified":"2026-12-02T14:53:51.647Z","object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"],"relationship_type":"indicates","source_ref":"indicator--ae446429-12fe-4cff-9d82-023d328866ff","target_ref":"indicator--e248d660-f94d-4cf0-bc80-410304b0e539","created_by_ref":"identity--11b4212d-4e15-450f-b422-977753d2754f","extensions":{"extension-definition--53903a24-06b3-4ef5-b7fe-fd3d5d29b3d1":{"extension_type":"property-extension","alg":"Ed25519","key_id":"c98449b29cc50e89368a8f42540bf5f2cf93a7358c9cd1c740563665adedce6d","signature":"E-Ia1Ha92nTU8SnafxLFpK9yOALhNm3L0ls-iTYVznp6VnjNl9Xj8nyRU-jSC1_guqg3qTfzMk86CKH2LvjJBw"}}}	\N
17	sighting--3c715320-7bc1-4de5-990c-e423158b7734	sighting	2.1	2026-12-02T14:53:51.649000Z	2026-12-02T14:53:51.649000Z	2026-12-02T14:53:52.301055Z	identity--11b4212d-4e15-450f-b422-977753d2754f	135f91af-2353-4f41-afd0-564afd914c17	green	{"type":"sighting","spec_version":"2.1","id":"sighting--3c715320-7bc1-4de5-990c-e423158b7734","created":"2026-12-02T14:53:51.649Z","modified":"2026-12-02T14:53:51.649Z","object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"],"sighting_of_ref":"indicator--ae446429-12fe-4cff-9d82-023d328866ff","where_sighted_refs":["identity--11b4212d-4e15-450f-b422-977753d2754f"],"created_by_ref":"identity--11b4212d-4e15-450f-b422-977753d2754f","extensions":{"extension-definition--53903a24-06b3-4ef5-b7fe-fd3d5d29b3d1":{"extension_type":"property-extension","alg":"Ed25519","key_id":"c98449b29cc50e89368a8f42540bf5f2cf93a7358c9cd1c740563665adedce6d","signature":"IbnYWJnZ35VElZmA-t2K2OqW1-OuDruwn645kBv7kIhTxtfayadFcfl_iDbwpLYIEXEwNNBGhQFiA08wGuNxAA"}}}	\N
18	indicator--2de221b6-6161-4824-9fa4-c59b897b48cb	indicator	2.1	2026-12-02T14:53:51.649000Z	2026-12-02T14:53:51.649000Z	2026-12-02T14:53:52.301462Z	identity--11b4212d-4e15-450f-b422-977753d2754f	135f91af-2353-4f41-afd0-564afd914c17	green	{"type":"indicator","spec_version":"2.1","id":"indicator--2de221b6-6161-4824-9fa4-c59b897b48cb","created":"2026-12-02T14:53:51.649Z","modified":"2026-12-02T14:53:51.649Z","object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"],"name":"upgrade fixture","pattern_type":"stix","pattern":"[ipv4-addr:value = '198.51.100.112']","valid_from":"2026-12-02T14:53:51.649Z","created_by_ref":"identity--11b4212d-4e15-450f-b422-977753d2754f","extensions":{"extension-definition--53903a24-06b3-4ef5-b7fe-fd3d5d29b3d1":{"extension_type":"property-extension","alg":"Ed25519","key_id":"c98449b29cc50e89368a8f42540bf5f2cf93a7358c9cd1c740563665adedce6d","signature":"4EzpXZB474wpaCR3r1UJxhSa9AbbeM8zAs31dZ7nv19jBEChwoOtIkcFYVEBvICMB5vCkYGx8jkOJY_Z35UdBQ"}}}	\N
19	indicator--2f673abb-d7e1-4cd6-a2d0-8af43511d646	indicator	2.1	2026-12-02T14:53:52.459000Z	2026-12-02T14:53:52.459000Z	2026-12-02T14:53:52.842524Z	identity--35c79b03-f8c4-4d78-8c9d-26eb80e63d1c	ee51d21c-d31b-4033-8a87-c20a03a78774	green	{"type":"indicator","spec_version":"2.1","id":"indicator--2f673abb-d7e1-4cd6-a2d0-8af43511d646","created":"2026-12-02T14:53:52.459Z","modified":"2026-12-02T14:53:52.459Z","object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"],"name":"upgrade fixture","pattern_type":"stix","pattern":"[ipv4-addr:value = '198.51.100.70']","valid_from":"2026-12-02T14:53:52.459Z","created_by_ref":"identity--35c79b03-f8c4-4d78-8c9d-26eb80e63d1c","extensions":{"extension-definition--53903a24-06b3-4ef5-b7fe-fd3d5d29b3d1":{"extension_type":"property-extension","alg":"Ed25519","key_id":"b55832a13868a90395562849281ccc285936d4e14c1ced4fca6898e968f22a44","signature":"pXbS4VGi1WaR0TCJH8UJpTUdDhmNHP2_UNM0zVys_HgL3PwkU2TbW8ZFyPa0JFCT7seL1wxmXqQPPagGYG_JCg"}}}	2026-12-02T14:53:52.952714Z
\.


--
-- Data for Name: rate_counts; Type: TABLE DATA; Schema: upgrade_fixture; Owner: -
--

COPY upgrade_fixture.rate_counts (caller, window_start, requests) FROM stdin;
\.


--
-- Data for Name: rule_values; Type: TABLE DATA; Schema: upgrade_fixture; Owner: -
--

COPY upgrade_fixture.rule_values (rule_id, value) FROM stdin;
31d9b152-d445-4053-8348-ea541d5ffd95	economy:US
50f20aff-cff3-4017-9352-e313ee9188ce	indicator
50f20aff-cff3-4017-9352-e313ee9188ce	report
50f20aff-cff3-4017-9352-e313ee9188ce	relationship
50f20aff-cff3-4017-9352-e313ee9188ce	marking-definition
50f20aff-cff3-4017-9352-e313ee9188ce	note
50f20aff-cff3-4017-9352-e313ee9188ce	sighting
50f20aff-cff3-4017-9352-e313ee9188ce	identity
\.


--
-- Data for Name: rules; Type: TABLE DATA; Schema: upgrade_fixture; Owner: -
--

COPY upgrade_fixture.rules (rule_id, member, identity, direction, effect, field, created) FROM stdin;
31d9b152-d445-4053-8348-ea541d5ffd95	135f91af-2353-4f41-afd0-564afd914c17	identity--11b4212d-4e15-450f-b422-977753d2754f	outbound	deny	\N	2026-12-02T14:53:46.191026Z
50f20aff-cff3-4017-9352-e313ee9188ce	ee51d21c-d31b-4033-8a87-c20a03a78774	identity--35c79b03-f8c4-4d78-8c9d-26eb80e63d1c	inbound	only	type	2026-12-02T14:53:46.801150Z
\.


--
-- Data for Name: schema_version; Type: TABLE DATA; Schema: upgrade_fixture; Owner: -
--

COPY upgrade_fixture.schema_version (version) FROM stdin;
1
2
3
\.


--
-- Data for Name: secrets; Type: TABLE DATA; Schema: upgrade_fixture; Owner: -
--

COPY upgrade_fixture.secrets (name, value) FROM stdin;
exchange_identity	\\x6964656e746974792d2d34366461313835372d336237642d343066652d623562642d623663633532393466393231
exchange_signing_key	\\x2d2d2d2d2d424547494e2050524956415445204b45592d2d2d2d2d0a4d43344341514177425159444b3256774243494549436c4e666f4c73386872666d6141586258384e386f78554b58746171675536316951532b71326e356a697a0a2d2d2d2d2d454e442050524956415445204b45592d2d2d2d2d0a
cursor_mac_key	\\x339ef93e95fcc6931596a9616ab263d4441b291e1307cc5e4cea46900c1e1d92
\.


--
-- Data for Name: sharing_groups; Type: TABLE DATA; Schema: upgrade_fixture; Owner: -
--

COPY upgrade_fixture.sharing_groups (name, created) FROM stdin;
grid	2026-12-02T14:53:45.316333Z
\.


--
-- Data for Name: statuses; Type: TABLE DATA; Schema: upgrade_fixture; Owner: -
--

COPY upgrade_fixture.statuses (id, member, created, body) FROM stdin;
42ef6a34-e147-4d58-b81f-0d65937ae308	ef557e7f-d046-4718-a813-747012b3c667	2026-12-02T14:53:49.240660Z	{"id":"42ef6a34-e147-4d58-b81f-0d65937ae308","member":"ef557e7f-d046-4718-a813-747012b3c667","status":"complete","request_timestamp":"2026-12-02T14:53:49.240660Z","total_count":8,"success_count":8,"successes":[{"id":"marking-definition--ff544a81-ab6a-4024-a2dc-cb16788076aa","version":"2026-12-02T14:53:48.716Z","message":null},{"id":"marking-definition--dd855b28-5481-4256-9bb7-e43bab34def4","version":"2026-12-02T14:53:48.716Z","message":null},{"id":"indicator--e248d660-f94d-4cf0-bc80-410304b0e539","version":"2026-12-02T14:53:48.716Z","message":null},{"id":"indicator--ae446429-12fe-4cff-9d82-023d328866ff","version":"2026-12-02T14:53:48.716Z","message":null},{"id":"indicator--3753b352-e5ce-4743-828a-de2cf5893dfd","version":"2026-12-02T14:53:48.716Z","message":null},{"id":"indicator--3e3d8448-e449-4416-82b9-bf2697be6fb5","version":"2026-12-02T14:53:48.716Z","message":null},{"id":"report--b1c35546-2093-459b-bbd1-bf730e58d1bb","version":"2026-12-02T14:53:48.716Z","message":null},{"id":"note--c63c3aaf-3496-4255-8483-02ac8c1eb96d","version":"2026-12-02T14:53:48.716Z","message":null}],"failure_count":0,"failures":[],"pending_count":0,"pendings":[]}
13a1b7da-c6b6-4345-bd0f-353aba1f3e5b	ef557e7f-d046-4718-a813-747012b3c667	2026-12-02T14:53:51.536994Z	{"id":"13a1b7da-c6b6-4345-bd0f-353aba1f3e5b","member":"ef557e7f-d046-4718-a813-747012b3c667","status":"complete","request_timestamp":"2026-12-02T14:53:51.536994Z","total_count":1,"success_count":1,"successes":[{"id":"indicator--ae446429-12fe-4cff-9d82-023d328866ff","version":"2026-12-02T14:53:52.213Z","message":null}],"failure_count":0,"failures":[],"pending_count":0,"pendings":[]}
4a06fe63-6486-4427-b8d0-d93bb7991259	135f91af-2353-4f41-afd0-564afd914c17	2026-12-02T14:53:52.274052Z	{"id":"4a06fe63-6486-4427-b8d0-d93bb7991259","member":"135f91af-2353-4f41-afd0-564afd914c17","status":"complete","request_timestamp":"2026-12-02T14:53:52.274052Z","total_count":3,"success_count":3,"successes":[{"id":"relationship--93759a79-531f-49a5-bd2a-4daffe1d5dbd","version":"2026-12-02T14:53:51.647Z","message":null},{"id":"sighting--3c715320-7bc1-4de5-990c-e423158b7734","version":"2026-12-02T14:53:51.649Z","message":null},{"id":"indicator--2de221b6-6161-4824-9fa4-c59b897b48cb","version":"2026-12-02T14:53:51.649Z","message":null}],"failure_count":0,"failures":[],"pending_count":0,"pendings":[]}
a20d8725-a38a-462c-9056-1054ed361a08	ee51d21c-d31b-4033-8a87-c20a03a78774	2026-12-02T14:53:52.835772Z	{"id":"a20d8725-a38a-462c-9056-1054ed361a08","member":"ee51d21c-d31b-4033-8a87-c20a03a78774","status":"complete","request_timestamp":"2026-12-02T14:53:52.835772Z","total_count":1,"success_count":1,"successes":[{"id":"indicator--2f673abb-d7e1-4cd6-a2d0-8af43511d646","version":"2026-12-02T14:53:52.459Z","message":null}],"failure_count":0,"failures":[],"pending_count":0,"pendings":[]}
\.


--
-- Data for Name: tokens; Type: TABLE DATA; Schema: upgrade_fixture; Owner: -
--

COPY upgrade_fixture.tokens (token_id, member, token_hash, scope, created, expires, revoked) FROM stdin;
a885f742-9e2a-42d3-b55b-b156661d9615	ef557e7f-d046-4718-a813-747012b3c667	917a61975570046a70a51e4831d7f5f38579ecc3ca4a427b00b053feea1c1397	read-write	2026-12-02T14:53:40.593708Z	2027-03-02T14:53:40.593708Z	\N
07d0a90e-e697-472d-a99e-5be8b3f4a38a	135f91af-2353-4f41-afd0-564afd914c17	fae8818f18a41b50d351c2cc1f7853ada9f1b091ac6becb50bb0a6a8e326c800	read-write	2026-12-02T14:53:42.538072Z	2027-03-02T14:53:42.538072Z	\N
26e6799a-00a9-4e82-ae9f-a4162b6fd5cd	ee51d21c-d31b-4033-8a87-c20a03a78774	7756d7d8ed8ebe019a3f2011e5ec05489ce48e3cd10252f240cba1b9bf995c54	read-write	2026-12-02T14:53:44.279904Z	2027-03-02T14:53:44.279904Z	\N
\.


--
-- Name: audience_markings audience_markings_pkey; Type: CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.audience_markings
    ADD CONSTRAINT audience_markings_pkey PRIMARY KEY (marking_id);


--
-- Name: clock clock_pkey; Type: CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.clock
    ADD CONSTRAINT clock_pkey PRIMARY KEY (id);


--
-- Name: deliveries deliveries_pkey; Type: CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.deliveries
    ADD CONSTRAINT deliveries_pkey PRIMARY KEY (stix_id, version, member);


--
-- Name: group_members group_members_pkey; Type: CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.group_members
    ADD CONSTRAINT group_members_pkey PRIMARY KEY (group_name, member);


--
-- Name: keys keys_pkey; Type: CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.keys
    ADD CONSTRAINT keys_pkey PRIMARY KEY (key_id);


--
-- Name: marking_audience marking_audience_pkey; Type: CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.marking_audience
    ADD CONSTRAINT marking_audience_pkey PRIMARY KEY (marking_id, principal);


--
-- Name: marking_users marking_users_pkey; Type: CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.marking_users
    ADD CONSTRAINT marking_users_pkey PRIMARY KEY (marking_id, author_identity);


--
-- Name: members members_identity_key; Type: CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.members
    ADD CONSTRAINT members_identity_key UNIQUE (identity);


--
-- Name: members members_name_key; Type: CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.members
    ADD CONSTRAINT members_name_key UNIQUE (name);


--
-- Name: members members_pkey; Type: CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.members
    ADD CONSTRAINT members_pkey PRIMARY KEY (id);


--
-- Name: object_audience object_audience_pkey; Type: CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.object_audience
    ADD CONSTRAINT object_audience_pkey PRIMARY KEY (seq, principal);


--
-- Name: object_ends object_ends_pkey; Type: CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.object_ends
    ADD CONSTRAINT object_ends_pkey PRIMARY KEY (seq, ref_id);


--
-- Name: object_markings object_markings_pkey; Type: CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.object_markings
    ADD CONSTRAINT object_markings_pkey PRIMARY KEY (seq, marking_id);


--
-- Name: objects objects_pkey; Type: CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.objects
    ADD CONSTRAINT objects_pkey PRIMARY KEY (seq);


--
-- Name: objects objects_stix_id_version_key; Type: CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.objects
    ADD CONSTRAINT objects_stix_id_version_key UNIQUE (stix_id, version);


--
-- Name: rate_counts rate_counts_pkey; Type: CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.rate_counts
    ADD CONSTRAINT rate_counts_pkey PRIMARY KEY (caller, window_start);


--
-- Name: rule_values rule_values_pkey; Type: CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.rule_values
    ADD CONSTRAINT rule_values_pkey PRIMARY KEY (rule_id, value);


--
-- Name: rules rules_pkey; Type: CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.rules
    ADD CONSTRAINT rules_pkey PRIMARY KEY (rule_id);


--
-- Name: secrets secrets_pkey; Type: CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.secrets
    ADD CONSTRAINT secrets_pkey PRIMARY KEY (name);


--
-- Name: sharing_groups sharing_groups_pkey; Type: CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.sharing_groups
    ADD CONSTRAINT sharing_groups_pkey PRIMARY KEY (name);


--
-- Name: statuses statuses_pkey; Type: CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.statuses
    ADD CONSTRAINT statuses_pkey PRIMARY KEY (id);


--
-- Name: tokens tokens_pkey; Type: CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.tokens
    ADD CONSTRAINT tokens_pkey PRIMARY KEY (token_id);


--
-- Name: tokens tokens_token_hash_key; Type: CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.tokens
    ADD CONSTRAINT tokens_token_hash_key UNIQUE (token_hash);


--
-- Name: group_members_member; Type: INDEX; Schema: upgrade_fixture; Owner: -
--

CREATE INDEX group_members_member ON upgrade_fixture.group_members USING btree (member);


--
-- Name: keys_member; Type: INDEX; Schema: upgrade_fixture; Owner: -
--

CREATE INDEX keys_member ON upgrade_fixture.keys USING btree (member);


--
-- Name: object_markings_marking; Type: INDEX; Schema: upgrade_fixture; Owner: -
--

CREATE INDEX object_markings_marking ON upgrade_fixture.object_markings USING btree (marking_id, seq);


--
-- Name: objects_author; Type: INDEX; Schema: upgrade_fixture; Owner: -
--

CREATE INDEX objects_author ON upgrade_fixture.objects USING btree (author_identity);


--
-- Name: objects_date_added; Type: INDEX; Schema: upgrade_fixture; Owner: -
--

CREATE INDEX objects_date_added ON upgrade_fixture.objects USING btree (date_added);


--
-- Name: objects_type_seq; Type: INDEX; Schema: upgrade_fixture; Owner: -
--

CREATE INDEX objects_type_seq ON upgrade_fixture.objects USING btree (type, seq);


--
-- Name: rate_counts_window; Type: INDEX; Schema: upgrade_fixture; Owner: -
--

CREATE INDEX rate_counts_window ON upgrade_fixture.rate_counts USING btree (window_start);


--
-- Name: rules_identity; Type: INDEX; Schema: upgrade_fixture; Owner: -
--

CREATE INDEX rules_identity ON upgrade_fixture.rules USING btree (identity, direction);


--
-- Name: statuses_created; Type: INDEX; Schema: upgrade_fixture; Owner: -
--

CREATE INDEX statuses_created ON upgrade_fixture.statuses USING btree (created);


--
-- Name: group_members group_members_group_name_fkey; Type: FK CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.group_members
    ADD CONSTRAINT group_members_group_name_fkey FOREIGN KEY (group_name) REFERENCES upgrade_fixture.sharing_groups(name);


--
-- Name: group_members group_members_member_fkey; Type: FK CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.group_members
    ADD CONSTRAINT group_members_member_fkey FOREIGN KEY (member) REFERENCES upgrade_fixture.members(id);


--
-- Name: keys keys_member_fkey; Type: FK CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.keys
    ADD CONSTRAINT keys_member_fkey FOREIGN KEY (member) REFERENCES upgrade_fixture.members(id);


--
-- Name: rule_values rule_values_rule_id_fkey; Type: FK CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.rule_values
    ADD CONSTRAINT rule_values_rule_id_fkey FOREIGN KEY (rule_id) REFERENCES upgrade_fixture.rules(rule_id) ON DELETE CASCADE;


--
-- Name: rules rules_member_fkey; Type: FK CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.rules
    ADD CONSTRAINT rules_member_fkey FOREIGN KEY (member) REFERENCES upgrade_fixture.members(id);


--
-- Name: tokens tokens_member_fkey; Type: FK CONSTRAINT; Schema: upgrade_fixture; Owner: -
--

ALTER TABLE ONLY upgrade_fixture.tokens
    ADD CONSTRAINT tokens_member_fkey FOREIGN KEY (member) REFERENCES upgrade_fixture.members(id);


--
-- PostgreSQL database dump complete
--

\unrestrict YlZG4RS7vVi861gigfoiKIe5rfg0c7NeLdPzPbC9ydjzFNuLmigfpdy0NcluQEZ

