/** Set once SIGTERM was received: readiness turns false so load balancers stop sending traffic. */
export class ShutdownState {
  shuttingDown = false;
}
