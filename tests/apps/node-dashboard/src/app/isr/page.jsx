// Incremental static regeneration: prerendered at build time, rendered
// again in the background at most every 2 seconds. The server writes each
// new version to disk, which fails on a read-only tree without a writable
// cache directory.
export const revalidate = 2;

export default function Isr() {
  return (
    <main>
      <p id="generated-at">{new Date().toISOString()}</p>
    </main>
  );
}
