using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Runnel.Metadata.Entities;

namespace Runnel.Metadata.Configurations;

internal sealed class DeliveryStreamConfiguration : IEntityTypeConfiguration<DeliveryStreamEntity>
{
    public void Configure(EntityTypeBuilder<DeliveryStreamEntity> b)
    {
        b.ToTable("delivery_streams");
        b.HasKey(d => d.Id);
        b.Property(d => d.Name).HasMaxLength(64);
        b.HasIndex(d => d.Name).IsUnique();
        b.Property(d => d.Type).HasMaxLength(32);
        b.Property(d => d.Status).HasMaxLength(32);
        b.Property(d => d.SourceStreamArn).HasMaxLength(512);
        b.Property(d => d.SourceRoleArn).HasMaxLength(512);
        b.Property(d => d.DestinationId).HasMaxLength(100);
        b.Property(d => d.EncryptionStatus).HasMaxLength(16);
        b.Property(d => d.EncryptionKeyType).HasMaxLength(32);
        b.Property(d => d.EncryptionKeyArn).HasMaxLength(512);
        b.Property(d => d.VersionId).IsConcurrencyToken();
        b.HasIndex(d => d.SourceStreamId);
        b.HasMany(d => d.Tags).WithOne().HasForeignKey(t => t.DeliveryStreamId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class DeliveryStreamTagConfiguration : IEntityTypeConfiguration<DeliveryStreamTagEntity>
{
    public void Configure(EntityTypeBuilder<DeliveryStreamTagEntity> b)
    {
        b.ToTable("delivery_stream_tags");
        b.HasKey(t => new { t.DeliveryStreamId, t.Key });
        b.Property(t => t.Key).HasMaxLength(128);
        b.Property(t => t.Value).HasMaxLength(256);
    }
}
