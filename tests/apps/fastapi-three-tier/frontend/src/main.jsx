import { useState } from 'react';
import { createRoot } from 'react-dom/client';

// Creates a call through the API (Postgres row, Celery job) and polls it
// until the worker has written its transcript.
function Calls() {
  const [state, setState] = useState('idle');
  async function start() {
    setState('creating');
    const res = await fetch('/api/calls', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ caller: 'the browser' }),
    });
    const { id } = await res.json();
    setState(`queued ${id}`);
    for (let i = 0; i < 100; i++) {
      const call = await (await fetch(`/api/calls/${id}`)).json();
      if (call.status === 'done') {
        setState(`done: ${call.transcript}`);
        return;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    setState('timed out');
  }
  return (
    <main>
      <h1>voice-api</h1>
      <button id="start" onClick={start}>Start a call</button>
      <p id="state">{state}</p>
    </main>
  );
}

createRoot(document.getElementById('root')).render(<Calls />);
