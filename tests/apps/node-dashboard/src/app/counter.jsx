'use client';

import { useState } from 'react';

// Changes the page only once React has hydrated it: proof that the
// bootstrap scripts ran under the CSP.
export default function Counter() {
  const [clicks, setClicks] = useState(0);
  return (
    <p>
      <button id="increment" type="button" onClick={() => setClicks(clicks + 1)}>
        Count
      </button>
      <span id="clicks">clicked {clicks} times</span>
    </p>
  );
}
