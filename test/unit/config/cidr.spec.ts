import * as assert from "assert";
import fc from "fast-check";
import { canonicalCidr, cidrContains, hasHostBits, parseCidr, worldOpenCidrs } from "../../../src/config/cidr";

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join("."));
const ipv6 = fc.ipV6();

describe("CIDR blocks", () => {
    it("parses IPv4 and IPv6 blocks and prints their canonical form", () => {
        assert.strictEqual(canonicalCidr(parseCidr("203.0.113.7/24")!), "203.0.113.0/24");
        assert.strictEqual(canonicalCidr(parseCidr("2001:db8:0:0:1::/64")!), "2001:db8::/64");
        assert.strictEqual(canonicalCidr(parseCidr("::/0")!), "::/0");
    });

    it("refuses what EC2 refuses: no prefix, a prefix too long, names, short or octal IPv4, zones, padded prefixes", () => {
        for (const text of [
            "203.0.113.7",
            "203.0.113.7/33",
            "2001:db8::/129",
            "example.com/32",
            "127.1/8",
            "010.0.0.1/32",
            "fe80::1%eth0/64",
            "1.2.3.4/032",
            "1.2.3.4/ 32",
            "",
        ]) {
            assert.strictEqual(parseCidr(text), undefined, text);
        }
    });

    it("knows which blocks open ssh to the whole internet", () => {
        assert.deepStrictEqual(worldOpenCidrs(["203.0.113.7/32", "0.0.0.0/0", "::/0", "10.0.0.0/8"]), ["0.0.0.0/0", "::/0"]);
    });

    it("property: any IPv4 address with any prefix parses, and its canonical block has no host bits and contains it", () => {
        fc.assert(
            fc.property(ipv4, fc.integer({ min: 0, max: 32 }), (address, prefix) => {
                const cidr = parseCidr(`${address}/${prefix}`);
                assert.ok(cidr && cidr.family === 4 && cidr.prefix === prefix);
                const canonical = parseCidr(canonicalCidr(cidr));
                assert.ok(canonical, canonicalCidr(cidr));
                assert.strictEqual(hasHostBits(canonical), false);
                assert.ok(cidrContains(canonical, address));
                assert.strictEqual(canonicalCidr(canonical), canonicalCidr(cidr), "canonical form is a fixed point");
                assert.strictEqual(hasHostBits(cidr), canonicalCidr(cidr) !== `${address}/${prefix}`);
            }),
        );
    });

    it("property: any IPv6 address with any prefix parses, and its canonical block has no host bits and contains it", () => {
        fc.assert(
            fc.property(ipv6, fc.integer({ min: 0, max: 128 }), (address, prefix) => {
                const cidr = parseCidr(`${address}/${prefix}`);
                assert.ok(cidr && cidr.family === 6 && cidr.prefix === prefix, `${address}/${prefix}`);
                const canonical = parseCidr(canonicalCidr(cidr));
                assert.ok(canonical, canonicalCidr(cidr));
                assert.strictEqual(hasHostBits(canonical), false);
                assert.ok(cidrContains(canonical, address));
                assert.strictEqual(canonicalCidr(canonical), canonicalCidr(cidr));
            }),
        );
    });

    it("property: a /32 (IPv4) or /128 (IPv6) block never has host bits; only a /0 opens to the world", () => {
        fc.assert(
            fc.property(ipv4, ipv6, (a4, a6) => {
                assert.strictEqual(hasHostBits(parseCidr(`${a4}/32`)!), false);
                assert.strictEqual(hasHostBits(parseCidr(`${a6}/128`)!), false);
                assert.deepStrictEqual(worldOpenCidrs([`${a4}/32`, `${a6}/128`, `${a4}/1`]), []);
            }),
        );
    });
});
