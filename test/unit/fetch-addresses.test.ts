/**
 * Which addresses read_url may reach, judged without sending anything: IPv6 addresses that carry an IPv4 address
 * (IPv4-compatible, IPv4-mapped and -translated, NAT64, 6to4, Teredo) are judged by the IPv4 address they carry.
 */
import ipaddr from "ipaddr.js";
import { describe, expect, test } from "vitest";
import { carriedIpv4, PageFetcher } from "../../src/search/fetch.js";

const fetcher = new PageFetcher({ allow: [], timeoutMs: 1000, maxBytes: 1024 });
const judge = (address: string) => fetcher.refusal(address, address);

describe("IPv6 addresses that carry IPv4", () => {
  test("the carried address is found for every embedding", () => {
    const cases: Array<[string, string[]]> = [
      ["::7f00:1", ["127.0.0.1"]],
      ["::a00:1", ["10.0.0.1"]],
      ["::ffff:0:7f00:1", ["127.0.0.1"]],
      ["64:ff9b::7f00:1", ["127.0.0.1"]],
      ["64:ff9b::8.8.8.8", ["8.8.8.8"]],
      ["64:ff9b:1::a9fe:a9fe", ["169.254.169.254"]],
      ["2002:7f00:1::1", ["127.0.0.1"]],
      ["2002:0808:0808::", ["8.8.8.8"]],
      ["2001:0:a9fe:a9fe::ffff:ffff", ["169.254.169.254", "0.0.0.0"]],
      ["2001:0:808:808:0:0:80ff:fffe", ["8.8.8.8", "127.0.0.1"]],
      ["2606:4700::1111", []],
      ["::1", []],
      ["::", []],
    ];
    for (const [address, carried] of cases) expect([address, carriedIpv4(ipaddr.IPv6.parse(address))]).toEqual([address, carried]);
  });

  test("loopback, private and metadata addresses are refused in every IPv6 disguise; public ones are not", () => {
    const refused: Array<[string, RegExp]> = [
      ["::7f00:1", /carries the IPv4 address 127\.0\.0\.1 is a loopback address/],
      ["::127.0.0.1", /loopback/],
      ["::ffff:127.0.0.1", /127\.0\.0\.1 is a loopback address/],
      ["::ffff:0:a00:7", /10\.0\.0\.7 is a private address/],
      ["64:ff9b::7f00:1", /loopback/],
      ["64:ff9b::a9fe:a9fe", /169\.254\.169\.254 is a link-local address/],
      ["64:ff9b:1::c0a8:101", /192\.168\.1\.1 is a private address/],
      ["2002:a9fe:a9fe::", /link-local/],
      ["2002:c0a8:0101::1", /private/],
      ["2001:0:a9fe:a9fe::", /169\.254\.169\.254 is a link-local/],
      ["2001:0:808:808::80ff:fffe", /127\.0\.0\.1 is a loopback/],
      ["::1", /::1 is a loopback address/],
      ["fe80::1", /link-local/],
      ["fd00::1", /unique local/],
    ];
    for (const [address, why] of refused) expect([address, judge(address)]).toEqual([address, expect.stringMatching(why)]);
    for (const address of ["64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8", "2606:4700::1111", "8.8.8.8"]) expect([address, judge(address)]).toEqual([address, null]);
  });

  test("--fetch-allow admits a carried address by its IPv4 range", () => {
    const allowing = new PageFetcher({ allow: ["127.0.0.0/8"], timeoutMs: 1000, maxBytes: 1024 });
    expect(allowing.refusal("::7f00:1", "x")).toBeNull();
    expect(allowing.refusal("64:ff9b::7f00:5", "x")).toBeNull();
    expect(allowing.refusal("64:ff9b::a00:1", "x")).toMatch(/10\.0\.0\.1 is a private address/);
  });
});
