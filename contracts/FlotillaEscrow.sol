// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/**
 * @title FlotillaEscrow
 * @notice Holds a payer's ERC-20 deposit per job until Flotilla's settlement key pays the providers
 * that ran the job, exactly once. Payouts are pull payments: settling only credits balances, and
 * every account (provider or payer) withdraws its own credit. See docs/contracts.md.
 *
 *            deposit (payer)           settle / settleBatch (SETTLER_ROLE, once)
 *   None ───────────────────▶ Open ─────────────────────────────────────────────▶ Settled
 *                            │  ▲  │   providers' shares + payer's remainder credited to `owed`
 *          top-up (same payer,│  │  │
 *          same token)        └──┘  │ reclaim (payer, only after the deadline)
 *                                   └─────────────────────────────────────────────▶ Reclaimed
 *                                       whole deposit transferred back to the payer
 *
 * Settled and Reclaimed are terminal: a job id is never reopened, so a settlement id derived from
 * the job uid can land at most once. No proxy, no upgrade path, no admin withdrawal.
 */
contract FlotillaEscrow is AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Accounts allowed to settle jobs (the operator's settlement key). Granted and revoked
    /// by DEFAULT_ADMIN_ROLE, which is meant to be a cold key or a multisig.
    bytes32 public constant SETTLER_ROLE = keccak256("SETTLER_ROLE");

    enum JobStatus {
        None,
        Open,
        Settled,
        Reclaimed
    }

    /// @dev Two storage slots: (payer, deadline, status, closedAtBlock) and (token, deposit).
    struct Job {
        address payer;
        uint40 deadline; // unix seconds; the payer may reclaim strictly after it
        JobStatus status;
        uint48 closedAtBlock; // block in which the job was settled or reclaimed; 0 while open
        address token;
        uint96 deposit; // total deposited, kept after closing as a record
    }

    struct SettlementBatchEntry {
        bytes32 jobId;
        address[] providers;
        uint256[] amounts;
    }

    mapping(bytes32 jobId => Job) private _jobs;

    /// @notice Credit withdrawable by `account` in `token`: providers' settled shares and payers'
    /// settlement remainders.
    mapping(address account => mapping(address token => uint256 amount)) public owed;

    event Deposited(
        bytes32 indexed jobId,
        address indexed payer,
        address indexed token,
        uint256 amount,
        uint256 totalDeposit,
        uint256 deadline
    );
    event Settled(
        bytes32 indexed jobId, address indexed token, address[] providers, uint256[] amounts, uint256 refund
    );
    /// @notice The settlement remainder credited to the payer (withdraw it with `withdraw(token)`).
    event Refunded(bytes32 indexed jobId, address indexed payer, address indexed token, uint256 amount);
    event Reclaimed(bytes32 indexed jobId, address indexed payer, address indexed token, uint256 amount);
    event Withdrawn(address indexed account, address indexed token, uint256 amount);
    /// @notice A batch entry for a job that was already closed; the rest of the batch proceeds.
    event SettlementSkipped(bytes32 indexed jobId, JobStatus status);

    error ZeroAddress();
    error ZeroAmount();
    error DeadlineInPast(uint256 deadline);
    error UnknownJob(bytes32 jobId);
    error AlreadySettled(bytes32 jobId);
    error AlreadyReclaimed(bytes32 jobId);
    error NotPayer(bytes32 jobId, address caller);
    error TokenMismatch(bytes32 jobId, address jobToken);
    error UnsupportedToken(address token, uint256 expected, uint256 received);
    error LengthMismatch(bytes32 jobId, uint256 providers, uint256 amounts);
    error SettlementExceedsDeposit(bytes32 jobId, uint256 total, uint256 deposit);
    error DeadlineNotReached(bytes32 jobId, uint256 deadline);
    error NothingToWithdraw(address account, address token);

    constructor(address admin, address settler) {
        if (admin == address(0) || settler == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(SETTLER_ROLE, settler);
    }

    // ───────────────────────────── payer ─────────────────────────────

    /**
     * @notice Deposits `amount` of `token` for `jobId`. The first deposit opens the job and fixes its
     * payer and token; later deposits (top-ups) must come from the same payer in the same token.
     * The job's deadline becomes the later of the stored one and `deadline`, so a top-up can only
     * extend it. Tokens that deliver less than `amount` (fee on transfer) are rejected.
     */
    function deposit(bytes32 jobId, IERC20 token, uint256 amount, uint64 deadline) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        if (deadline <= block.timestamp) revert DeadlineInPast(deadline);
        Job storage job = _jobs[jobId];
        JobStatus status = job.status;
        if (status == JobStatus.None) {
            if (address(token) == address(0)) revert ZeroAddress();
            job.payer = msg.sender;
            job.token = address(token);
            job.status = JobStatus.Open;
        } else {
            if (status != JobStatus.Open) _revertNotOpen(jobId, status);
            if (job.payer != msg.sender) revert NotPayer(jobId, msg.sender);
            if (job.token != address(token)) revert TokenMismatch(jobId, job.token);
        }
        if (deadline > job.deadline) job.deadline = SafeCast.toUint40(deadline);
        uint96 total = SafeCast.toUint96(uint256(job.deposit) + amount);
        job.deposit = total;
        emit Deposited(jobId, msg.sender, address(token), amount, total, job.deadline);

        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != amount) revert UnsupportedToken(address(token), amount, received);
    }

    /// @notice Returns the whole deposit of an unsettled job to its payer, strictly after the deadline.
    function reclaim(bytes32 jobId) external nonReentrant {
        Job storage job = _jobs[jobId];
        JobStatus status = job.status;
        if (status != JobStatus.Open) _revertNotOpen(jobId, status);
        if (msg.sender != job.payer) revert NotPayer(jobId, msg.sender);
        if (block.timestamp <= job.deadline) revert DeadlineNotReached(jobId, job.deadline);
        job.status = JobStatus.Reclaimed;
        job.closedAtBlock = uint48(block.number);
        address token = job.token;
        uint256 amount = job.deposit;
        emit Reclaimed(jobId, msg.sender, token, amount);
        IERC20(token).safeTransfer(msg.sender, amount);
    }

    // ─────────────────────────── settlement ──────────────────────────

    /**
     * @notice Settles `jobId` once: credits `amounts[i]` to `providers[i]` and the rest of the deposit
     * to the payer. Reverts with AlreadySettled / AlreadyReclaimed / UnknownJob when the job is not
     * open. May run after the deadline as long as the payer has not reclaimed.
     */
    function settle(bytes32 jobId, address[] calldata providers, uint256[] calldata amounts)
        external
        nonReentrant
        onlyRole(SETTLER_ROLE)
    {
        Job storage job = _jobs[jobId];
        JobStatus status = job.status;
        if (status != JobStatus.Open) _revertNotOpen(jobId, status);
        _settle(jobId, job, providers, amounts);
    }

    /**
     * @notice Settles many jobs in one transaction. An entry whose job is already Settled or
     * Reclaimed is skipped with a SettlementSkipped event, so resending a batch after a crash is
     * harmless; any other invalid entry (unknown job, mismatched lengths, overspend) reverts the
     * whole batch, because it means the caller computed something wrong.
     * @return settled the number of entries that settled in this call.
     */
    function settleBatch(SettlementBatchEntry[] calldata entries)
        external
        nonReentrant
        onlyRole(SETTLER_ROLE)
        returns (uint256 settled)
    {
        for (uint256 i; i < entries.length; ++i) {
            SettlementBatchEntry calldata entry = entries[i];
            Job storage job = _jobs[entry.jobId];
            JobStatus status = job.status;
            if (status == JobStatus.Open) {
                _settle(entry.jobId, job, entry.providers, entry.amounts);
                ++settled;
            } else if (status == JobStatus.None) {
                revert UnknownJob(entry.jobId);
            } else {
                emit SettlementSkipped(entry.jobId, status);
            }
        }
    }

    // ──────────────────────────── payouts ────────────────────────────

    /// @notice Transfers the caller's whole credit in `token` to the caller.
    function withdraw(IERC20 token) external nonReentrant returns (uint256 amount) {
        amount = owed[msg.sender][address(token)];
        if (amount == 0) revert NothingToWithdraw(msg.sender, address(token));
        owed[msg.sender][address(token)] = 0;
        emit Withdrawn(msg.sender, address(token), amount);
        token.safeTransfer(msg.sender, amount);
    }

    // ───────────────────────────── views ─────────────────────────────

    function jobs(bytes32 jobId) external view returns (Job memory) {
        return _jobs[jobId];
    }

    /**
     * @notice What the operator reads on restart: Settled means the settlement landed (its amounts
     * are in the Settled event of block `closedAtBlock`); Open means it did not and may be sent.
     */
    function settlementOf(bytes32 jobId) external view returns (JobStatus status, uint256 closedAtBlock) {
        Job storage job = _jobs[jobId];
        return (job.status, job.closedAtBlock);
    }

    // ─────────────────────────── internals ───────────────────────────

    /// @dev Credits only; no external call, so the job's bookkeeping cannot be re-entered.
    function _settle(bytes32 jobId, Job storage job, address[] calldata providers, uint256[] calldata amounts)
        private
    {
        if (providers.length != amounts.length) revert LengthMismatch(jobId, providers.length, amounts.length);
        address token = job.token;
        uint256 paid;
        for (uint256 i; i < providers.length; ++i) {
            address provider = providers[i];
            if (provider == address(0)) revert ZeroAddress();
            uint256 amount = amounts[i];
            paid += amount;
            owed[provider][token] += amount;
        }
        uint256 deposited = job.deposit;
        if (paid > deposited) revert SettlementExceedsDeposit(jobId, paid, deposited);
        job.status = JobStatus.Settled;
        job.closedAtBlock = uint48(block.number);
        uint256 refund = deposited - paid;
        if (refund != 0) {
            address payer = job.payer;
            owed[payer][token] += refund;
            emit Refunded(jobId, payer, token, refund);
        }
        emit Settled(jobId, token, providers, amounts, refund);
    }

    function _revertNotOpen(bytes32 jobId, JobStatus status) private pure {
        if (status == JobStatus.Settled) revert AlreadySettled(jobId);
        if (status == JobStatus.Reclaimed) revert AlreadyReclaimed(jobId);
        revert UnknownJob(jobId);
    }
}
