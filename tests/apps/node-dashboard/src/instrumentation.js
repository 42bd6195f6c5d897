// Runs once when the Next.js server starts. The standalone server.js that
// Next generates has no hook for its HTTP server, so the live-UI WebSocket
// and the metrics are wired onto every Node HTTP server here.
export async function register() {
  if (process.env.NEXT_RUNTIME === 'nodejs') {
    const { attach } = await import('./live-server.cjs');
    attach();
  }
}
