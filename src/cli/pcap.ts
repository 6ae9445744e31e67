// `hvcoco run --pcap FILE`: every Ethernet frame between the guest's synthetic NIC
// and the host, both directions, of every configuration run, as one pcapng file
// that Wireshark and tshark read: one interface per configuration (LINKTYPE_ETHERNET,
// if_name = the configuration's name), one Enhanced Packet Block per frame with its
// direction as the packet comment. As with `hvcoco trace`, timestamps are not
// times: a frame's timestamp is the boundary-crossing count at the moment it passed
// the host's tap, in microseconds, so the same seed gives the same file. The file
// is written beside its target and renamed into place once complete.
import { LINKTYPE_ETHERNET, PcapngWriter } from "../report/pcapng.ts";
import type { Vm } from "../vm/vm.ts";
import { AtomicFile } from "./output.ts";

export class NetCapture {
  readonly #file: AtomicFile;
  readonly #w: PcapngWriter;
  #frames = 0;

  private constructor(file: AtomicFile) {
    this.#file = file;
    this.#w = new PcapngWriter((chunk) => file.write(chunk), { application: "hvcoco" });
  }

  /** Check the path (one line and exit 2 if it cannot be written) and start the file. */
  static open(path: string, flag = "--pcap"): NetCapture {
    return new NetCapture(AtomicFile.open(path, flag));
  }

  get frames(): number {
    return this.#frames;
  }

  /** Capture the frames of `vm`'s NIC (call before it boots). */
  attach(vm: Vm): void {
    const w = this.#w;
    const iface = w.addInterface({
      linktype: LINKTYPE_ETHERNET,
      name: vm.config.name,
      description: `hvcoco synthetic NIC of ${vm.config.name} (seed ${vm.config.seed})`,
    });
    vm.host.net.responder.onFrame((dir, frame) => {
      this.#frames++;
      w.packet(iface, vm.audit.boundary.seq, frame, {
        comment: dir === "to-host" ? "guest -> host" : "host -> guest",
      });
    });
  }

  commit(): void {
    this.#file.commit();
  }

  abort(): void {
    this.#file.abort();
  }
}
