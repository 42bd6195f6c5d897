import { connection } from 'next/server';
import Counter from './counter';
import LiveSocket from './live-socket';

// Rendered per request: Next.js puts the middleware's CSP nonce on its
// scripts only when it renders the page, not on prerendered HTML.
export default async function Home() {
  await connection();
  return (
    <main>
      <h1>Voice agents</h1>
      <Counter />
      <LiveSocket />
    </main>
  );
}
