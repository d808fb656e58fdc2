import * as ipaddr from "ipaddr.js";

/**
 * CIDR blocks as the security group takes them. Parsing and network arithmetic are ipaddr.js's
 * (the library pulumi-eks uses for the same job); this file only adds what EC2 insists on:
 * dotted-decimal IPv4 (ipaddr.js also reads `127.1` and octal forms, which EC2 refuses), no
 * IPv6 zone, and no bits set after the prefix.
 */

/** A parsed CIDR block. */
export interface Cidr {
    readonly family: 4 | 6;
    /** The address as written, parsed. */
    readonly address: ipaddr.IPv4 | ipaddr.IPv6;
    readonly prefix: number;
}

/** Parses `203.0.113.7/32` or `2001:db8::/32`; undefined when it is not a CIDR block EC2 takes. */
export function parseCidr(text: string): Cidr | undefined {
    const slash = text.indexOf("/");
    if (slash < 0 || !/^(?:0|[1-9]\d{0,2})$/.test(text.slice(slash + 1))) return undefined;
    const addressText = text.slice(0, slash);
    let parsed: [ipaddr.IPv4 | ipaddr.IPv6, number];
    try {
        parsed = ipaddr.parseCIDR(text);
    } catch {
        return undefined;
    }
    const [address, prefix] = parsed;
    if (address.kind() === "ipv4") {
        return ipaddr.IPv4.isValidFourPartDecimal(addressText) ? { family: 4, address, prefix } : undefined;
    }
    if ((address as ipaddr.IPv6).zoneId !== undefined) return undefined;
    return { family: 6, address, prefix };
}

function networkAddress(cidr: Cidr): ipaddr.IPv4 | ipaddr.IPv6 {
    const text = `${cidr.address.toString()}/${cidr.prefix}`;
    return cidr.family === 4 ? ipaddr.IPv4.networkAddressFromCIDR(text) : ipaddr.IPv6.networkAddressFromCIDR(text);
}

/** The canonical text of a CIDR block: host bits cleared, IPv6 in its shortest form. */
export function canonicalCidr(cidr: Cidr): string {
    return `${networkAddress(cidr).toString()}/${cidr.prefix}`;
}

/** Whether bits are set after the prefix (EC2 refuses such a block). */
export function hasHostBits(cidr: Cidr): boolean {
    return networkAddress(cidr).toNormalizedString() !== cidr.address.toNormalizedString();
}

/** Whether an address lies in a block. */
export function cidrContains(cidr: Cidr, address: string): boolean {
    const parsed = ipaddr.parse(address);
    return parsed.kind() === cidr.address.kind() && parsed.match(cidr.address, cidr.prefix);
}

/** The blocks of a list that let the whole internet in (`0.0.0.0/0`, `::/0`). */
export function worldOpenCidrs(cidrs: readonly string[]): string[] {
    return cidrs.filter((c) => parseCidr(c)?.prefix === 0);
}
